"""``/metrics``: Prometheus text exposition through ``prometheus_client`` (not hand-written).

What this process knows as it happens (it serves the console and the browser viewers):
viewer sockets open, frames and bytes sent to browsers by format, failed logins on the web,
admin and API doors. What the database and the session hosts know, read at scrape time:
desktops by state and node, and each running desktop's stream subscribers (browser viewers and
RDP clients together, from its host's status). The RDP server is another process: its own
clients show only through those subscriber counts.

Only addresses in ``WRD_METRICS_ALLOW`` (default loopback) and staff users may read it.
"""

from __future__ import annotations

import functools
import logging

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webconsole.config import env

log = logging.getLogger(__name__)

ALLOW = {a.strip() for a in env.env_str("WRD_METRICS_ALLOW", "127.0.0.1,::1").split(",") if a.strip()}
HOST_STATUS_TIMEOUT = 0.5  # seconds per session host asked at scrape time

VIEWERS = Gauge("wrd_viewer_sockets", "Browser viewer WebSockets open in this console process")
VIEWER_FRAMES = Counter("wrd_viewer_frames", "Frames sent to browser viewers", ["format"])
VIEWER_BYTES = Counter("wrd_viewer_bytes", "Bytes sent to browser viewers (frames and control)", ["format"])


@functools.cache
def viewer_counters(fmt: str):
    """(frames, bytes) counters of one format, looked up once: the send loop counts every message."""
    return VIEWER_FRAMES.labels(fmt), VIEWER_BYTES.labels(fmt)


LOGIN_FAILURES = Counter("wrd_login_failures", "Failed logins through the console (web, admin, API)")


@receiver(user_login_failed)
def _count_failure(sender, credentials, request=None, **kwargs) -> None:
    LOGIN_FAILURES.inc()


class DesktopCollector(Collector):
    """Desktops by state and node, and the subscribers of each running desktop here."""

    def describe(self):
        """The series without reading them (registering would otherwise collect once, at import)."""
        yield GaugeMetricFamily("wrd_desktops", "Desktop sessions by state and node", labels=["state", "node"])
        yield GaugeMetricFamily("wrd_desktop_subscribers",
                                "Stream subscribers (browser viewers and RDP clients) of a running desktop",
                                labels=["desktop"])

    def collect(self):
        from compositor.client import BlockingHostClient, HostError
        from compositor.messages import Status
        from webconsole.desktops.models import DesktopSession, DesktopState

        by_state = GaugeMetricFamily("wrd_desktops", "Desktop sessions by state and node", labels=["state", "node"])
        counts: dict[tuple[str, str], int] = {}
        for state, node in DesktopSession.objects.values_list("state", "node"):
            counts[(state, node)] = counts.get((state, node), 0) + 1
        for state in DesktopState.values:
            for node in sorted({n for _, n in counts} | {env.NODE}):
                by_state.add_metric([state, node], counts.get((state, node), 0))
        yield by_state
        subscribers = GaugeMetricFamily("wrd_desktop_subscribers",
                                        "Stream subscribers (browser viewers and RDP clients) of a running desktop",
                                        labels=["desktop"])
        for desktop in DesktopSession.objects.filter(state=DesktopState.RUNNING, node=env.NODE):
            pk, path = desktop.pk, desktop.socket_path
            if path is None:
                continue
            try:
                with BlockingHostClient(path, timeout=HOST_STATUS_TIMEOUT) as host:
                    subscribers.add_metric([str(pk)], host.call(Status()).subscribers)
            except (HostError, OSError) as exc:
                log.debug("metrics: desktop %s did not answer: %s", pk, exc)
        yield subscribers


REGISTRY.register(DesktopCollector())


def _allowed(request) -> bool:
    user = getattr(request, "user", None)
    return request.META.get("REMOTE_ADDR") in ALLOW or bool(user and user.is_authenticated and user.is_staff)


@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden("metrics: not from an allowed address (WRD_METRICS_ALLOW) nor staff\n")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
