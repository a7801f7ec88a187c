"""The console's say in an RDP auto-reconnect (webconsole/desktops/rdp.py): whether the cookie's
desktop is still its user's and running, and the audit events of reconnections and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from compositor.sandbox import socket_path
from webconsole.audit.models import AuditEvent
from webconsole.desktops import rdp
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)


async def test_resume_desktop_only_for_the_owners_running_desktop() -> None:
    alice = await User.objects.acreate(username="alice-arc")
    await User.objects.acreate(username="bob-arc")
    running = await DesktopSession.objects.acreate(owner=alice, width=800, height=600, node="n",
                                                   state=DesktopState.RUNNING, runtime_dir="/run/wrd/arc-1")
    stopping = await DesktopSession.objects.acreate(owner=alice, width=800, height=600, node="n",
                                                    state=DesktopState.STOPPING, runtime_dir="/run/wrd/arc-2")
    path = socket_path(Path(running.runtime_dir))
    assert await rdp.resume_desktop("alice-arc", path)
    await running.arefresh_from_db()
    assert running.last_activity_at is not None  # counted as used, as a login would
    assert not await rdp.resume_desktop("bob-arc", path)  # not bob's
    assert not await rdp.resume_desktop("alice-arc", socket_path(Path(stopping.runtime_dir)))
    assert not await rdp.resume_desktop("alice-arc", Path("/run/wrd/none/host.sock"))
    running.state = DesktopState.STOPPED
    await running.asave()
    assert not await rdp.resume_desktop("alice-arc", path)


async def test_reconnections_and_refusals_are_audited() -> None:
    alice = await User.objects.acreate(username="alice-arc-audit")
    running = await DesktopSession.objects.acreate(owner=alice, width=800, height=600, node="n",
                                                   state=DesktopState.RUNNING, runtime_dir="/run/wrd/arc-3")
    path = socket_path(Path(running.runtime_dir))
    await rdp.audit_reconnect("rdp.reconnect", "alice-arc-audit", "192.0.2.4", path, "")
    await rdp.audit_reconnect("rdp.reconnect_refused", "alice-arc-audit", "192.0.2.4", path, "wrong security verifier")
    await rdp.audit_reconnect("rdp.reconnect_refused", "mallory", "198.51.100.9", None, "unknown logon id")
    events = [e async for e in AuditEvent.objects.order_by("pk")]
    assert [(e.action, e.actor_name, e.address) for e in events] == [
        ("rdp.reconnect", "alice-arc-audit", "192.0.2.4"),
        ("rdp.reconnect_refused", "alice-arc-audit", "192.0.2.4"),
        ("rdp.reconnect_refused", "mallory", "198.51.100.9")]
    first, refused, unknown = events
    assert first.actor_id == alice.pk and first.target_type == "desktop" and first.target_id == str(running.pk)
    assert first.details == {"desktop": str(path)}
    assert refused.details == {"desktop": str(path), "reason": "wrong security verifier"}
    assert unknown.actor_id is None and unknown.target_type == "" and unknown.details == {
        "desktop": "", "reason": "unknown logon id"}
