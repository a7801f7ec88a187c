"""Reads for the dashboard: a card per desktop, and the admins' view of every desktop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from webconsole.audit.models import AuditEvent
from webconsole.desktops import selectors as desktop_selectors
from webconsole.desktops.models import ACTIVE_STATES, DesktopSession, DesktopState
from webconsole.recordings.models import Connection


@dataclass
class DesktopCard:
    desktop: DesktopSession
    usage: desktop_selectors.DesktopUsage | None = None
    viewers: int = 0  # open browser viewers
    rdp_clients: int = 0
    watchers: list[Connection] = field(default_factory=list)  # open connections, everyone's
    uptime: timedelta | None = None
    idle: timedelta | None = None
    admin_opens: list[AuditEvent] = field(default_factory=list)
    share: object | None = None  # for a desktop shared with the viewer: the share

    @property
    def transitioning(self) -> bool:
        return self.desktop.state in (DesktopState.REQUESTED, DesktopState.STARTING, DesktopState.STOPPING)


def open_connections(desktops: list[DesktopSession]) -> dict[int, list[Connection]]:
    """Open viewer and RDP connections of each desktop, since its current start."""
    by_desktop: dict[int, list[Connection]] = {d.pk: [] for d in desktops}
    started = {d.pk: d.started_at for d in desktops}
    running = [d.pk for d in desktops if d.state == DesktopState.RUNNING]
    for conn in Connection.objects.filter(desktop_id__in=running, closed_at__isnull=True).select_related("user"):
        if started[conn.desktop_id] is None or conn.opened_at >= started[conn.desktop_id]:
            by_desktop[conn.desktop_id].append(conn)
    return by_desktop


def cards(desktops: list[DesktopSession], *, with_admin_opens: bool = False) -> list[DesktopCard]:
    now = timezone.now()
    conns = open_connections(desktops)
    opens: dict[str, list[AuditEvent]] = {}
    if with_admin_opens and settings.WRD_ADMIN_OPEN_SHOWN_TO_OWNER and desktops:
        events = AuditEvent.objects.filter(action="desktop.open_other", target_type="desktop",
                                           target_id__in=[str(d.pk) for d in desktops],
                                           at__gte=now - timedelta(days=7))[:50]
        for event in events:
            opens.setdefault(event.target_id, []).append(event)
    out = []
    for desktop in desktops:
        kinds = Counter(c.kind for c in conns[desktop.pk])
        running = desktop.state == DesktopState.RUNNING
        last = desktop.last_activity_at or desktop.started_at
        out.append(DesktopCard(
            desktop=desktop, usage=desktop_selectors.desktop_usage(session=desktop) if running else None,
            viewers=kinds["browser"], rdp_clients=kinds["rdp"], watchers=conns[desktop.pk],
            uptime=now - desktop.started_at if running and desktop.started_at else None,
            idle=now - last if running and last else None, admin_opens=opens.get(str(desktop.pk), [])[:3]))
    return out


def user_cards(*, user: AbstractBaseUser) -> list[DesktopCard]:
    """The user's own desktops: every active one, and the last few ended."""
    active = list(DesktopSession.objects.filter(owner=user, state__in=ACTIVE_STATES))
    ended = list(DesktopSession.objects.filter(owner=user).exclude(state__in=ACTIVE_STATES)[:4])
    return cards(active + ended, with_admin_opens=True)


def shared_cards(*, user: AbstractBaseUser) -> list[DesktopCard]:
    from webconsole.sharing.selectors import desktops_shared_with

    pairs = desktops_shared_with(user=user)
    result = cards([d for d, _ in pairs])
    for card, (_, share) in zip(result, pairs, strict=True):
        card.share = share
    return result


SORTS = {"owner": ("owner__username", "pk"), "state": ("state", "pk"), "node": ("node", "pk"),
         "idle": ("-last_seen", "pk"), "-idle": ("last_seen", "pk"), "newest": ("-created_at",)}


@dataclass(frozen=True)
class AdminFilters:
    owner: str = ""
    state: str = "active"  # "active", "all", or one state
    node: str = ""
    idle_minutes: int = 0  # at least this idle
    sort: str = "newest"


@dataclass
class Totals:
    desktops: int = 0
    running: int = 0
    viewers: int = 0
    rdp_clients: int = 0
    cpu_percent: float = 0.0
    memory_bytes: int = 0


def admin_cards(*, filters: AdminFilters) -> tuple[list[DesktopCard], Totals]:
    """Every user's desktops on every node, filtered and sorted; totals of what is shown."""
    qs = DesktopSession.objects.select_related("owner").annotate(last_seen=Coalesce(F("last_activity_at"),
                                                                                   F("started_at")))
    if filters.owner:
        qs = qs.filter(owner__username__icontains=filters.owner)
    if filters.state == "active":
        qs = qs.filter(state__in=ACTIVE_STATES)
    elif filters.state in DesktopState.values:
        qs = qs.filter(state=filters.state)
    if filters.node:
        qs = qs.filter(node=filters.node)
    if filters.idle_minutes > 0:
        qs = qs.filter(state=DesktopState.RUNNING).filter(
            Q(last_seen__lte=timezone.now() - timedelta(minutes=filters.idle_minutes)))
    qs = qs.order_by(*SORTS.get(filters.sort, SORTS["newest"]))
    result = cards(list(qs[:500]))
    totals = Totals(desktops=len(result))
    for card in result:
        totals.running += card.desktop.state == DesktopState.RUNNING
        totals.viewers += card.viewers
        totals.rdp_clients += card.rdp_clients
        if card.usage is not None:
            totals.cpu_percent += card.usage.cpu_percent or 0.0
            totals.memory_bytes += card.usage.memory_bytes
    return result, totals


def nodes() -> list[str]:
    return list(DesktopSession.objects.order_by("node").values_list("node", flat=True).distinct())
