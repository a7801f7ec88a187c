"""Property tests of the acceptor's step machine and of the active session's channel dispatch
(h2 ``test_state_machines.py`` style): whatever frames arrive in whatever state, the only
outcome besides going on is a ``RemoteProtocolError`` that leaves that connection ``Closed``.

The valid client stream of a whole connection (with clipboard, Display Control and the
graphics pipeline opened) is cut into frames; a connection is driven to every point of it,
then fed random bytes, mutated frames, frames of other states, or channel messages.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdpfront import acceptor, cliprdr, disp, dvc, events, gfx, mcs, x224
from rdpfront.acceptor import Acceptor, AcceptorResult, Closed, WaitClientInfo, WaitCredentials
from rdpfront.channels.registry import DISP_CHANNEL_ID, DYNAMIC_CHANNELS, GFX_CHANNEL_ID, STATIC_CHANNELS
from rdpfront.connection import ServerConnection
from rdpfront.cursor import encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.session import ActiveSession
from rdpfront.svc import chunk_message
from rdpfront.tpkt import Action, Framer

from .helpers import MemoryClient, recording_client
from .test_properties import PROFILE, mutate

GFX_FLAG = 0x0100
CHANNELS = ("cliprdr", "drdynvc", "rdpsnd")


def _recorded_connection() -> tuple[list[bytes], MemoryClient]:
    """The client's frames of a whole connection, up to the graphics pipeline drawing."""
    client, recorded = recording_client()
    client.connect(channels=CHANNELS, early_flags=GFX_FLAG)
    client.send_dvc(dvc.CapsResponse(3))
    client.send_dvc(dvc.CreateResponse(DISP_CHANNEL_ID, 0))
    client.send_dvc(dvc.CreateResponse(GFX_CHANNEL_ID, 0))
    for piece in dvc.split_message(GFX_CHANNEL_ID, gfx.encode_client(gfx.CapsAdvertise(
            (gfx.CapSet(gfx.CapVersion.V81, (0x10).to_bytes(4, "little")),)))):
        client.send_dvc(piece)
    client.send_dvc(dvc.Data(DISP_CHANNEL_ID, disp.encode_disp(disp.MonitorLayout(
        (disp.Monitor(disp.MONITOR_PRIMARY, 0, 0, 1024, 768),)))))
    framer = Framer()
    framer.feed(b"".join(recorded))
    return [frame for _, frame in framer.frames()], client


FRAMES, _ = _recorded_connection()


def _at(point: int) -> ServerConnection:
    """A fresh connection fed the first ``point`` frames of the recorded stream (the driver
    upgrading to TLS and accepting the credentials when asked)."""
    server = ServerConnection()
    for frame in FRAMES[:point]:
        server.receive_data(frame)
        if server.reached_security_upgrade():
            server.security_upgrade_done()
        if isinstance(server.state, WaitCredentials):
            server.accept_credentials()
    return server


def _feed_expecting_clean_errors(server: ServerConnection, inputs: list[bytes]) -> None:
    for data in inputs:
        try:
            server.receive_data(data)
            server.events()
            server.data_to_send()
            if server.reached_security_upgrade():
                server.security_upgrade_done()
            if isinstance(server.state, WaitCredentials):
                server.accept_credentials()  # goes on with what the client sent meanwhile
        except RemoteProtocolError:
            assert server.closed, f"a peer error left the connection in {type(server.state).__name__}"
            assert isinstance(server.disconnect(), bytes)
            return


def test_the_recorded_stream_reaches_every_state() -> None:
    seen = set()
    server = ServerConnection()
    for frame in FRAMES:
        seen.add(type(server.state).__name__)
        server.receive_data(frame)
        if server.reached_security_upgrade():
            seen.add("SecurityUpgrade")
            server.security_upgrade_done()
        if isinstance(server.state, WaitCredentials):
            seen.add("WaitCredentials")
            server.accept_credentials()
    seen.add(type(server.state).__name__)
    assert seen >= {"WaitConnectionRequest", "SecurityUpgrade", "WaitConnectInitial", "WaitErectDomain",
                    "WaitAttachUser", "ChannelJoin", "WaitClientInfo", "WaitCredentials", "WaitConfirmActive",
                    "Finalization", "Active"}
    assert server.gfx_ready and server.display_control_open


def test_every_table_row_starts_from_a_state_and_every_waiting_state_has_a_row() -> None:
    states = {s for s, _ in acceptor.TRANSITIONS}
    for cls in (acceptor.WaitConnectionRequest, acceptor.SecurityUpgrade, acceptor.WaitConnectInitial,
                acceptor.WaitErectDomain, acceptor.WaitAttachUser, acceptor.ChannelJoin, acceptor.WaitClientInfo,
                acceptor.WaitCredentials, acceptor.WaitConfirmActive, acceptor.Finalization):
        assert cls in states, f"no transition leaves {cls.__name__}"
    assert not states & {acceptor.Accepted, acceptor.Closed}


@pytest.mark.parametrize("call", ["security_upgrade_done", "accept_credentials", "reject_credentials"])
def test_a_driver_call_out_of_turn_is_our_error(call: str) -> None:
    server = _at(len(FRAMES))
    with pytest.raises(LocalProtocolError):
        getattr(server.acceptor, call)()
    assert not server.closed


@PROFILE
@given(point=st.integers(0, len(FRAMES)), junk=st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_random_bytes_in_every_state_close_cleanly(point: int, junk: list[bytes]) -> None:
    _feed_expecting_clean_errors(_at(point), junk)


@PROFILE
@given(point=st.integers(0, len(FRAMES)), seed=st.integers(0, 2**32 - 1))
def test_mutated_and_misplaced_frames_in_every_state_close_cleanly(point: int, seed: int) -> None:
    rng = random.Random(seed)
    inputs = []
    for _ in range(rng.randint(1, 5)):
        frame = rng.choice(FRAMES)
        inputs.append(mutate(rng, frame) if rng.random() < 0.7 else frame)
    _feed_expecting_clean_errors(_at(point), inputs)


def test_fuzz_run_over_states() -> None:
    """Seeded: every point of the stream, mutated frames after it."""
    rng = random.Random(0xACCE)
    for point in range(len(FRAMES) + 1):
        for _ in range(15):
            _feed_expecting_clean_errors(_at(point), [mutate(rng, rng.choice(FRAMES)) for _ in range(3)])


# ---- channel dispatch -------------------------------------------------------------------

def _channel_frames(client: MemoryClient, channel: str, message: bytes) -> list[bytes]:
    return [x224.data_frame(encode(mcs.SendDataRequest(client.user_id, client.channel_ids[channel], chunk)))
            for chunk in chunk_message(message)]


def _channel_messages() -> list[tuple[str, bytes]]:
    return [
        ("cliprdr", cliprdr.encode_clipboard(cliprdr.ClipCaps())),
        ("cliprdr", cliprdr.encode_clipboard(cliprdr.FormatList((cliprdr.Format(13),)))),
        ("cliprdr", cliprdr.encode_clipboard(cliprdr.FormatDataRequest(13))),
        ("cliprdr", cliprdr.encode_clipboard(cliprdr.FormatDataResponse.unicode_text("hi"))),
        ("drdynvc", dvc.encode_dvc(dvc.CapsResponse(3))),
        ("drdynvc", dvc.encode_dvc(dvc.CreateResponse(DISP_CHANNEL_ID, 0))),
        ("drdynvc", dvc.encode_dvc(dvc.Data(DISP_CHANNEL_ID, disp.encode_disp(disp.MonitorLayout(
            (disp.Monitor(disp.MONITOR_PRIMARY, 0, 0, 800, 600),)))))),
        ("drdynvc", dvc.encode_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(gfx.FrameAcknowledge(0, 1, 1))))),
        ("drdynvc", dvc.encode_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(gfx.CacheImportOffer(()))))),
        ("drdynvc", dvc.encode_dvc(dvc.Close(DISP_CHANNEL_ID))),
        ("rdpsnd", b"\x07\x00\x00\x00"),
    ]


MESSAGES = _channel_messages()


@PROFILE
@given(seed=st.integers(0, 2**32 - 1))
def test_random_channel_traffic_in_an_active_session_closes_cleanly(seed: int) -> None:
    rng = random.Random(seed)
    _, template = _recorded_connection()
    server = _at(len(FRAMES))
    assert server.active and server.gfx_ready
    inputs = []
    for _ in range(rng.randint(1, 6)):
        name, message = rng.choice(MESSAGES)
        if rng.random() < 0.7:
            message = mutate(rng, message)
        inputs += _channel_frames(template, name, message)
    _feed_expecting_clean_errors(server, inputs)


def test_channel_data_before_the_client_info_is_refused() -> None:
    client = MemoryClient()
    client.connect(channels=CHANNELS, accept=False)
    server = ServerConnection()
    for frame in FRAMES:
        if isinstance(server.acceptor.state, WaitClientInfo):
            break
        server.receive_data(frame)
        if server.reached_security_upgrade():
            server.security_upgrade_done()
    assert isinstance(server.state, WaitClientInfo)
    with pytest.raises(RemoteProtocolError, match="before the Client Info"):
        server.receive_data(_channel_frames(client, "cliprdr", cliprdr.encode_clipboard(cliprdr.ClipCaps()))[0])
    assert isinstance(server.state, Closed)


def _accepted(**changes: object) -> AcceptorResult:
    server = _at(len(FRAMES))
    assert server.session is not None
    return replace(server.session.accepted, reactivation=False, **changes)


def test_data_on_a_channel_the_client_did_not_join_is_refused() -> None:
    accepted = _accepted()
    cliprdr_id = next(cid for cid, name in accepted.channels.items() if name == "cliprdr")
    session = ActiveSession(replace(accepted, joined=accepted.joined - {cliprdr_id}))
    assert session.channel("cliprdr") is None
    frame = x224.data_frame(encode(mcs.SendDataRequest(1007, cliprdr_id, chunk_message(b"\x07\x00")[0])))
    with pytest.raises(RemoteProtocolError, match="did not join"):
        session.receive_frame(Action.X224, frame)
    assert isinstance(session.state, Closed)


def test_data_on_an_unknown_channel_is_refused() -> None:
    session = ActiveSession(_accepted())
    frame = x224.data_frame(encode(mcs.SendDataRequest(1007, 1999, b"\x00" * 8)))
    with pytest.raises(RemoteProtocolError, match="unknown MCS channel 1999"):
        session.receive_frame(Action.X224, frame)


def test_a_joined_channel_without_a_plug_in_is_ignored() -> None:
    session = ActiveSession(_accepted(), static_registry={})  # rdpsnd joined, nobody serves it
    rdpsnd = next(cid for cid, name in session.accepted.channels.items() if name == "rdpsnd")
    session.receive_frame(Action.X224, x224.data_frame(encode(mcs.SendDataRequest(1007, rdpsnd, b"junk"))))
    assert session.active


def test_a_registered_plug_in_serves_its_channel() -> None:
    """Adding a channel is a plug-in class and a registry entry: nothing else changes."""
    from rdpfront.channels.base import StaticChannel

    class Echo(StaticChannel):
        name = "rdpsnd"

        def start(self) -> None:
            self.host.write(self.encode(b"hello"))

        def receive(self, message: bytes) -> None:
            self.host.emit(events.ClipboardText(message.decode()))

    session = ActiveSession(_accepted(), static_registry={**STATIC_CHANNELS, "rdpsnd": Echo})
    rdpsnd = next(cid for cid, name in session.accepted.channels.items() if name == "rdpsnd")
    assert isinstance(session.channel("rdpsnd"), Echo)
    assert b"hello" in session.data_to_send()
    session.events()
    session.receive_frame(Action.X224, x224.data_frame(encode(mcs.SendDataRequest(
        1007, rdpsnd, chunk_message(b"ping")[0]))))
    assert session.events() == [events.ClipboardText("ping")]


def test_dynamic_channel_ids_follow_the_registry() -> None:
    assert list(DYNAMIC_CHANNELS).index(disp.CHANNEL_NAME) + 1 == DISP_CHANNEL_ID == 1
    assert list(DYNAMIC_CHANNELS).index(gfx.CHANNEL_NAME) + 1 == GFX_CHANNEL_ID == 2


def test_reactivation_is_an_acceptor_that_ends_again() -> None:
    server = _at(len(FRAMES))
    session = server.session
    assert session is not None
    session.resize(1024, 768)
    assert isinstance(session.reactivating, Acceptor)
    assert not server.active


@PROFILE
@given(seed=st.integers(0, 2**32 - 1), finalized=st.integers(0, 4))
def test_frames_during_a_reactivation_close_cleanly(seed: int, finalized: int) -> None:
    """Mid Deactivation-Reactivation (after 0-4 of Confirm Active, Synchronize, Cooperate,
    Request Control): mutated and misplaced frames, input and channel data included."""
    rng = random.Random(seed)
    server = _at(len(FRAMES))
    server.resize(1024, 768)
    for frame in FINALIZATION[:finalized]:
        server.receive_data(frame)
    # Any recorded frame may come again, in any order.
    inputs = [mutate(rng, f) if rng.random() < 0.7 else f for f in rng.sample(FRAMES, 3)]
    _feed_expecting_clean_errors(server, inputs)


def _finalization_frames() -> list[bytes]:
    """The recorded Confirm Active, Synchronize, Control (x2) and Font List frames, in order."""
    server = ServerConnection()
    out = []
    for frame in FRAMES:
        before = type(server.state).__name__
        server.receive_data(frame)
        if server.reached_security_upgrade():
            server.security_upgrade_done()
        if isinstance(server.state, WaitCredentials):
            server.accept_credentials()
        if before in ("WaitConfirmActive", "Finalization"):
            out.append(frame)
    return out


FINALIZATION = _finalization_frames()


def test_a_reactivation_ends_active_at_the_new_size() -> None:
    server = _at(len(FRAMES))
    server.events()
    server.resize(1024, 768)
    for frame in FINALIZATION:
        server.receive_data(frame)
    assert server.active and (server.width, server.height) == (1024, 768)
    assert [e for e in server.events() if isinstance(e, events.Activated)] == [
        events.Activated(1024, 768, 32, 0x409, True, 0x3F0000, True)]
