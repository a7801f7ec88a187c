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


@pytest.fixture
async def rdp_under(request, host, client_display, tmp_path):
    """xfreerdp against a server whose console door gives every login ``request.param``."""
    import shutil as _shutil

    from rdpfront.policy import ConnectionPolicy
    from rdpfront.server import RdpServer, ServerSettings
    from tests.rdpfront.xfreerdp import PASSWORD, harness_for

    if _shutil.which("xfreerdp") is None:
        pytest.skip("xfreerdp (freerdp2-x11) is not installed")
    policy: ConnectionPolicy = request.param

    async def authenticate(username: str, password: str, address: str) -> bool:
        return password == PASSWORD

    async def attach(username: str, width: int, height: int):
        return host.socket_path

    async def lookup(username: str) -> ConnectionPolicy:
        return policy

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert"), authenticate=authenticate,
                       attach=attach, connection_policy=lookup)
    port = await server.start()
    async with harness_for(server, port, client_display, tmp_path) as harness:
        yield harness


def _policy(drives: DriveAccess):
    from rdpfront.policy import ConnectionPolicy

    return ConnectionPolicy(drives=drives)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("rdp_under", [_policy(DriveAccess.READ)], indirect=True)
async def test_read_only_shared_folder_with_xfreerdp(rdp_under, host, tmp_path):
    from tests.rdpfront.drive_helpers import session_sh, wait_in_session

    share = tmp_path / "share"
    share.mkdir()
    (share / "note.txt").write_text("hello from the client\n")
    await rdp_under.client(f"/drive:share,{share}")
    await rdp_under.wait_first_frame()
    out = await wait_in_session(host, 'cat "$HOME/Drives/share/note.txt"')
    assert out.strip() == "hello from the client"  # reading: files come into the desktop
    for change in ('echo x > "$HOME/Drives/share/new.txt"', 'echo x >> "$HOME/Drives/share/note.txt"',
                   'rm "$HOME/Drives/share/note.txt"', 'mkdir "$HOME/Drives/share/dir"',
                   'mv "$HOME/Drives/share/note.txt" "$HOME/Drives/share/moved.txt"'):
        code, out = await session_sh(host, change)
        assert code != 0, (change, out)
    assert sorted(p.name for p in share.iterdir()) == ["note.txt"]
    assert (share / "note.txt").read_text() == "hello from the client\n"
    await rdp_under.stop_clients()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("rdp_under", [_policy(DriveAccess.OFF)], indirect=True)
async def test_no_shared_folder_with_xfreerdp_when_off(rdp_under, host, tmp_path):
    from tests.rdpfront.drive_helpers import session_sh

    share = tmp_path / "share"
    share.mkdir()
    (share / "note.txt").write_text("secret\n")
    await rdp_under.client(f"/drive:share,{share}")
    await rdp_under.wait_first_frame()
    await asyncio.sleep(3.0)  # a shared folder shows within a second when allowed (the test above)
    code, out = await session_sh(host, 'ls -A "$HOME/Drives"')
    assert code == 0 and out.strip() == "", out
    await rdp_under.stop_clients()
