"""A user's policy inside the RDP server, sans-IO where it can be: the login form refused by
policy ends the connection with its reason; read-only or no shared folders; the clipboard
relay's gates. (End to end with xfreerdp: tests/webconsole/policies/test_rdp_policy.py.)"""

from __future__ import annotations

import asyncio
import errno

import pytest

from compositor import messages
from compositor.messages import DriveAction, OpenFlag
from rdpfront import events as ev
from rdpfront.drive_relay import DriveRelay
from rdpfront.login_flow import Disconnect, LoginFlow, Reject
from rdpfront.policy import AccessRefused, DriveAccess
from rdpfront.rdp.pdus import ErrorInfo
from tests.rdpfront.helpers import credentials_event


def test_refused_by_policy_after_the_login_form_ends_with_its_reason():
    flow = LoginFlow(max_width=1920, max_height=1080)
    flow.credentials(credentials_event(password=""))  # no password: the form
    assert flow.form is not None
    assert flow.attach_failed(AccessRefused("RDP access is turned off")) == Disconnect(
        ErrorInfo.SERVER_INSUFFICIENT_PRIVILEGES)
    plain = LoginFlow(max_width=1920, max_height=1080)
    plain.credentials(credentials_event())
    assert plain.attach_failed(AccessRefused("off")) == Reject(ErrorInfo.SERVER_INSUFFICIENT_PRIVILEGES)


class _Relay:
    """A DriveRelay whose client completes nothing: what it sends the host is kept."""

    def __init__(self, access: DriveAccess) -> None:
        self.sent: list = []
        self.calls: list = []

        async def host_call(request):
            self.calls.append(request)

        self.relay = DriveRelay(None, write=lambda data: None, host_call=host_call, host_send=self.sent.append)
        self.relay.access = access


@pytest.mark.parametrize(("call", "refused"), [
    (dict(action=DriveAction.WRITE, handle=1, offset=0, data=b"x"), True),
    (dict(action=DriveAction.OPEN, path=("a",), flags=frozenset({OpenFlag.WRITE})), True),
    (dict(action=DriveAction.OPEN, path=("a",), flags=frozenset({OpenFlag.CREATE})), True),
    (dict(action=DriveAction.MKDIR, path=("d",)), True),
    (dict(action=DriveAction.UNLINK, path=("a",)), True),
    (dict(action=DriveAction.RENAME, path=("a",), target=("b",)), True),
    (dict(action=DriveAction.TRUNCATE, path=("a",), size=0), True),
    (dict(action=DriveAction.SETTIMES, path=("a",), mtime=0), True),
    (dict(action=DriveAction.READ, handle=1, offset=0, length=4), False),
    (dict(action=DriveAction.OPEN, path=("a",)), False),
])
async def test_read_only_drives_refuse_every_change(call, refused):
    relay = _Relay(DriveAccess.READ)
    relay.relay.attached[7] = object()  # an attached drive, as after DriveAttach
    relay.relay.handle(messages.DriveCall(call=1, drive=7, **call))
    for _ in range(50):
        if relay.sent:
            break
        await asyncio.sleep(0.01)
    (result,) = relay.sent
    if refused:
        assert result.errno == errno.EROFS
    else:  # let through to the client (which, here, never answers: EBADF / a pending request)
        assert result.errno != errno.EROFS


async def test_no_drives_when_off():
    relay = _Relay(DriveAccess.OFF)
    relay.relay.handle(ev.DriveAnnounced(device_id=3, name="home"))
    relay.relay.host_ready()
    await asyncio.sleep(0.05)
    assert relay.relay.drives == {} and relay.calls == []  # never shown in the session
