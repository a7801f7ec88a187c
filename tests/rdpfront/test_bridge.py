"""``Bridge`` with both ends in memory: a ``MemoryClient`` on one side, the session host's
messages on the other, and the driver's part (its requests) answered by hand."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from compositor import messages
from rdpfront import cliprdr, dvc, events, gfx
from rdpfront.bridge import (
    OUTPUT_START_DELAY,
    Background,
    Bridge,
    Close,
    LoginTimer,
    StartOutput,
    StartTls,
    SubscribeGfx,
    server_connection,
)
from rdpfront.channels.registry import GFX_CHANNEL_ID
from rdpfront.connection import ServerConnection
from rdpfront.login import LOGIN_TIMEOUT
from rdpfront.login_flow import Attach, Authenticate, Connect
from rdpfront.output import SessionResize, Source
from rdpfront.rdp.pdus import DemandActive, ShutdownDenied, ShutdownRequest
from rdpfront.reconnect import IssueCookie
from rdpfront.settings import ServerSettings

from .helpers import FREERDP_CAPS, GFX_FLAG, MemoryClient, gfx_pdus

BITMAP_STREAM, H264_STREAM = 1, 2


class Driver:
    """What the asyncio driver does with the bridge's requests, without sockets: every await
    answered at once (the host's size is ``session``)."""

    def __init__(self, bridge: Bridge, *, password_ok: bool = True, session: tuple[int, int] = (800, 600)) -> None:
        self.bridge = bridge
        self.password_ok = password_ok
        self.session = session
        self.done: list[object] = []  # requests carried out that have no answer

    def receive(self, events_: typing.Iterable[events.Event]) -> None:
        for event in events_:
            self.carry_out(self.bridge.receive(event))

    def carry_out(self, requests: list) -> None:
        while requests:
            request, *requests = requests
            requests = self._answer(request) + requests

    def _answer(self, request: object) -> list:
        bridge = self.bridge
        match request:
            case Authenticate():
                return bridge.authenticated(self.password_ok)
            case Attach():
                return bridge.attached(Path("/run/host.sock"))
            case Connect():
                bridge.output.subscription()
                bridge.output.attach(messages.SubscribeReply(BITMAP_STREAM, *self.session))
                return bridge.connected()
            case SubscribeGfx():
                bridge.output.gfx.subscribed(messages.SubscribeReply(H264_STREAM, *self.session))
                return bridge.gfx_subscribed()
            case Background(request=inner):
                return self._answer(inner)
        self.done.append(request)
        return []


def _pair(password: str = "secret", channels: tuple[str, ...] = ("cliprdr", "rdpsnd"), early_flags: int = 0,
          **settings: object) -> tuple[MemoryClient, Bridge, Driver]:
    """A client logged in through the bridge and active (up to its Demand Active if no password)."""
    bridge = Bridge(ServerSettings(**settings))  # type: ignore[arg-type]
    client = MemoryClient(server=bridge.conn)
    driver = Driver(bridge)
    client.connect(password=password, channels=channels, early_flags=early_flags, accept=False)
    driver.receive(bridge.conn.events())
    client.finish(next(p for p in client.pump(bridge.data_to_send()) if isinstance(p, DemandActive)))
    driver.receive(bridge.conn.events())
    return client, bridge, driver


def test_every_event_and_push_has_its_place_in_a_table() -> None:
    bridge = Bridge(ServerSettings())
    handled = set(bridge._client_events)
    assert handled == set(typing.get_args(events.Event)) - {events.FrameAcknowledged}
    assert set(bridge._host_pushes) == {messages.Frame, messages.Cursor, messages.Pointer, messages.Resized,
                                        messages.ClipboardChanged, messages.Bye, messages.DriveCall}


def test_a_connection_as_the_settings_make_it() -> None:
    conn = server_connection(ServerSettings(gfx=False, max_width=1024), "ctx")
    assert isinstance(conn, ServerConnection)
    assert Bridge(ServerSettings(), conn=conn).conn is conn


def test_tls_is_the_drivers() -> None:
    bridge = Bridge(ServerSettings())
    assert bridge.receive(events.SecurityUpgradeRequired(1)) == [StartTls()]


def test_login_with_the_client_info_password_then_output_starts_at_first_input() -> None:
    client, bridge, driver = _pair()
    demand = next(p for p in client.received if isinstance(p, DemandActive))
    assert demand is not None and bridge.output.attached and bridge.login.username == "alice"
    # the auto-reconnect cookie is asked for once the client is active (tests/rdpfront/test_reconnect.py)
    assert driver.done == [StartTls(), StartOutput(OUTPUT_START_DELAY),
                           IssueCookie("alice", "alice", "", Path("/run/host.sock"))]
    assert bridge.output.damage.rects == [(0, 0, 800, 600)] and not bridge.output.drawing
    driver.receive([events.MouseEvent(5, 6)])
    assert bridge.output.drawing  # the client's first input
    assert bridge.host_messages() == [messages.Input(events=(messages.MoveEvent(x=5, y=6),))]


def test_a_wrong_password_is_refused() -> None:
    bridge = Bridge(ServerSettings())
    client = MemoryClient(server=bridge.conn)
    client.connect(accept=False)
    Driver(bridge, password_ok=False).receive(bridge.conn.events())
    assert bridge.conn.closed and not bridge.output.attached
    assert bridge.data_to_send()  # the licence, the error info and the ultimatum


def test_login_form_then_the_session() -> None:
    client, bridge, driver = _pair(password="")
    assert LoginTimer(LOGIN_TIMEOUT) in driver.done
    assert bridge.output.source() is Source.LOGIN_FORM and not bridge.output.attached
    driver.session = (1024, 768)  # the desktop runs at its own size
    for char in "secret":
        driver.receive([events.UnicodeEvent(ord(char), True)])
    assert bridge.host_messages() == []  # typed into the form, not the session
    requests = bridge.receive(events.KeyboardEvent(0x1C, False, True))
    assert requests == [Background(Authenticate("alice", "secret"))]
    driver.carry_out(requests)
    assert bridge.output.attached and bridge.login.form is None
    assert bridge.output.source() is Source.HOST_BITMAPS
    deactivate, demand = client.pump(bridge.data_to_send())[:2]  # the desktop's size is given
    assert (type(deactivate).__name__, type(demand).__name__) == ("DeactivateAll", "DemandActive")


def test_login_form_times_out() -> None:
    _, bridge, _ = _pair(password="")
    assert bridge.login_timed_out() == [Close()]
    assert bridge.conn.closed


def test_graphics_pipeline_after_the_capability_confirm() -> None:
    client, bridge, driver = _pair(channels=("cliprdr", "drdynvc"), early_flags=GFX_FLAG)
    client.pump(bridge.data_to_send())
    client.send_dvc(dvc.CapsResponse(3))
    client.pump(bridge.data_to_send())
    client.send_dvc(dvc.CreateResponse(GFX_CHANNEL_ID, 0))
    client.send_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(gfx.CapsAdvertise(FREERDP_CAPS))))
    (ready,) = [e for e in bridge.conn.events() if isinstance(e, events.GfxReady)]
    requests = bridge.receive(ready)
    assert [type(r) for r in requests] == [SubscribeGfx]
    # The Caps Confirm the connection queued was compressed before the Reset Graphics the
    # bridge wrote: the client reads them in that order, or its decompressor fails.
    confirm, reset = (gfx_pdus(client, [message]) for message in client.pump(bridge.data_to_send()))
    assert [p.cmd for p in confirm + reset] == [
        gfx.Cmd.CAPS_CONFIRM, gfx.Cmd.RESET_GRAPHICS, gfx.Cmd.CREATE_SURFACE, gfx.Cmd.MAP_SURFACE_TO_OUTPUT]
    driver.carry_out(requests)
    assert bridge.output.gfx.stream == H264_STREAM
    assert bridge.host_messages() == [messages.Unsubscribe(stream=BITMAP_STREAM)]


def test_resize_asked_mid_reactivation_is_made_after_it() -> None:
    client, bridge, driver = _pair()
    client.pump(bridge.data_to_send())
    bridge.host_push(messages.Resized(640, 480))  # another client resized the session
    demand = client.pump(bridge.data_to_send())[1]  # reactivating
    assert bridge.receive(events.DisplayLayout(1024, 768)) == []
    client.finish(demand)
    (activated,) = [e for e in bridge.conn.events() if isinstance(e, events.Activated)]
    requests = bridge.receive(activated)
    assert requests[0] == StartOutput(OUTPUT_START_DELAY)
    assert requests[1] == SessionResize(messages.Resize(width=1024, height=768), (640, 480))


def test_clipboard_both_ways() -> None:
    client, bridge, driver = _pair()
    client.pump(bridge.data_to_send())
    assert bridge.receive(events.ClipboardOffer(True, (13,))) == []
    assert client.pump(bridge.data_to_send()) == [cliprdr.FormatDataRequest(13)]
    bridge.receive(events.ClipboardText("from the client"))
    assert bridge.host_messages() == [messages.ClipboardSet(text="from the client")]
    bridge.receive(events.ClipboardText(None))
    assert bridge.host_messages() == []
    bridge.host_push(messages.ClipboardChanged(messages.Selection.PRIMARY, "not this one"))
    assert bridge.data_to_send() == b""
    bridge.host_push(messages.ClipboardChanged(messages.Selection.CLIPBOARD, "from the session"))
    assert isinstance(client.pump(bridge.data_to_send())[0], cliprdr.FormatList)


def test_shutdown_is_denied() -> None:
    client, bridge, _ = _pair()
    client.pump(bridge.data_to_send())
    client.send_share_data(ShutdownRequest())
    for event in bridge.conn.events():
        bridge.receive(event)
    assert isinstance(client.pump(bridge.data_to_send())[-1], ShutdownDenied)


def test_session_ending_disconnects_the_client() -> None:
    client, bridge, _ = _pair()
    client.pump(bridge.data_to_send())
    assert bridge.host_push(messages.Bye(reason="logged out")) == [Close()]
    assert bridge.conn.closed and bridge.data_to_send()  # Set Error Info and the ultimatum


@pytest.mark.parametrize("push", [messages.Frame(stream=BITMAP_STREAM, seq=1),
                                  messages.Cursor(serial=1, width=0, height=0, xhot=0, yhot=0)])
def test_host_pushes_for_the_output(push: messages.Push) -> None:
    _, bridge, _ = _pair()
    bridge.output.damage.clear()
    assert bridge.host_push(push) == [] and bridge.output.pending


def test_images_and_files_follow_the_clipboard_policy() -> None:
    from rdpfront.bridge import ClipboardWork
    from rdpfront.policy import ConnectionPolicy

    client, bridge, driver = _pair()
    client.pump(bridge.data_to_send())
    image = events.ClipboardOffer(False, (cliprdr.CF_DIB,))
    assert [type(r) for r in bridge.receive(image)] == [ClipboardWork]  # fetched by the driver
    bridge.apply_policy(ConnectionPolicy(clipboard_to_desktop=False))
    assert bridge.receive(image) == []  # nothing asked of the client
    assert bridge.data_to_send() == b""
    bridge.host_push(messages.ClipboardChanged(messages.Selection.CLIPBOARD, "", formats=(messages.CLIPBOARD_IMAGE,)))
    assert isinstance(client.pump(bridge.data_to_send())[0], cliprdr.FormatList)  # the other way is on
    bridge.apply_policy(ConnectionPolicy(clipboard_from_desktop=False))
    bridge.host_push(messages.ClipboardChanged(messages.Selection.CLIPBOARD, "", formats=(messages.CLIPBOARD_IMAGE,)))
    assert bridge.data_to_send() == b""
