"""``/metrics``: Prometheus text exposition through ``prometheus_client`` (not hand-written).

What the service's processes count as it happens: browser viewer sockets, frames and bytes
(the console), RDP clients, connections, frames and bytes (the RDP server,
``rdpfront/metrics.py``), failed logins on every door, and the jobs' queue wait and run time
(``task_metrics``, the Celery worker). ``manage.py serve`` gives them one
``PROMETHEUS_MULTIPROC_DIR``, which the library's multiprocess mode sums here; without it (a lone
daphne) this process's own series are shown. What the database and the session hosts know,
read at scrape time: desktops by state and node, each running desktop's stream subscribers,
and each one's encode-time histogram per format (from its host's ``status``).

Only addresses in ``WRD_METRICS_ALLOW`` (default loopback) and staff users may read it.
"""

from __future__ import annotations

import functools
import logging
import os

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from webconsole.config import env

log = logging.getLogger(__name__)

ALLOW = {a.strip() for a in env.env_str("WRD_METRICS_ALLOW", "127.0.0.1,::1").split(",") if a.strip()}
HOST_STATUS_TIMEOUT = 0.5  # seconds per session host asked at scrape time

VIEWERS = Gauge("wrd_viewer_sockets", "Browser viewer WebSockets open", multiprocess_mode="livesum")
VIEWER_FRAMES = Counter("wrd_viewer_frames", "Frames sent to browser viewers", ["format"])
VIEWER_BYTES = Counter("wrd_viewer_bytes", "Bytes sent to browser viewers (frames and control)", ["format"])


@functools.cache
def viewer_counters(fmt: str):
    """(frames, bytes) counters of one format, looked up once: the send loop counts every message."""
    return VIEWER_FRAMES.labels(fmt), VIEWER_BYTES.labels(fmt)


LOGIN_FAILURES = Counter("wrd_login_failures", "Failed logins (web, admin, API, RDP)")


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
        yield HistogramMetricFamily("wrd_encode_seconds", ENCODE_HELP, labels=["desktop", "format"])

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
        encode = HistogramMetricFamily("wrd_encode_seconds", ENCODE_HELP, labels=["desktop", "format"])
        for desktop in DesktopSession.objects.filter(state=DesktopState.RUNNING, node=env.NODE):
            pk, path = desktop.pk, desktop.socket_path
            if path is None:
                continue
            try:
                with BlockingHostClient(path, timeout=HOST_STATUS_TIMEOUT) as host:
                    status = host.call(Status())
            except (HostError, OSError) as exc:
                log.debug("metrics: desktop %s did not answer: %s", pk, exc)
                continue
            subscribers.add_metric([str(pk)], status.subscribers)
            for times in status.encode_times:
                encode.add_metric([str(pk), times.format], _cumulative(times.counts), times.total)
        yield subscribers
        yield encode


ENCODE_HELP = "Seconds a desktop's session host took to encode one picture update, by format"


def _cumulative(counts: tuple[int, ...]) -> list[tuple[str, float]]:
    """A host's per-bucket counts as the exposition's cumulative buckets, +Inf last."""
    from compositor.messages import ENCODE_BUCKETS

    buckets, running = [], 0
    for bound, count in zip((*ENCODE_BUCKETS, float("inf")), counts, strict=True):
        running += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
    return buckets


MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MULTIPROCESS_DIR:
    # Every process's files, summed; the desktops read here. The default registry would give
    # only this process's values again.
    _REGISTRY = CollectorRegistry()
    MultiProcessCollector(_REGISTRY, path=MULTIPROCESS_DIR)
else:
    _REGISTRY = REGISTRY
_REGISTRY.register(DesktopCollector())


def _allowed(request) -> bool:
    user = getattr(request, "user", None)
    return request.META.get("REMOTE_ADDR") in ALLOW or bool(user and user.is_authenticated and user.is_staff)


@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden("metrics: not from an allowed address (WRD_METRICS_ALLOW) nor staff\n")
    return HttpResponse(generate_latest(_REGISTRY), content_type=CONTENT_TYPE_LATEST)
