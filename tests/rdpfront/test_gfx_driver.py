"""The driver's graphics pipeline against our own client (``helpers.SocketClient`` over TCP +
TLS) and a real session host: frame acknowledgement as flow control, Suppress Output pausing
the H.264 stream and a keyframe on resume."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from rdpfront import dvc, gfx, zgfx
from rdpfront.bridge import SubscribeGfx
from rdpfront.channels.registry import GFX_CHANNEL_ID
from rdpfront.rdp.pdus import Rectangle16, SuppressOutput
from rdpfront.server import RdpConnection, RdpServer
from tests.compositor.helpers import session_env, start_host, stop_host
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import PASSWORD, close_server, start_server

GFX_FLAG = 0x0100
SPS = b"\x00\x00\x00\x01\x67"


@pytest.fixture(scope="module")
def host() -> Iterator:
    launched = start_host(640, 480)
    try:
        yield launched
    finally:
        stop_host(launched)


@pytest.fixture
async def server(host, tmp_path) -> AsyncIterator[tuple[RdpServer, int]]:
    rdp, port = await start_server(tmp_path, host.socket_path)
    try:
        yield rdp, port
    finally:
        await close_server(rdp)


class GfxClient:
    """SocketClient plus the graphics channel: whole RDPGFX messages, acknowledged on request."""

    def __init__(self, port: int) -> None:
        self.sock = SocketClient(port, timeout=10)
        self.pieces = dvc.DvcReassembler()
        self.zgfx = zgfx.Decompressor()
        self.seen = 0  # PDUs of ``sock.received`` taken so far
        self.frames: list[list[gfx.ServerPdu]] = []  # each: Start Frame ... End Frame

    def open(self) -> None:
        c = self.sock
        c.connect(username="alice", password=PASSWORD, channels=("cliprdr", "drdynvc"), early_flags=GFX_FLAG)
        c.pump()
        c.send_dvc(dvc.CapsResponse(3))
        c.pump()
        c.send_dvc(dvc.CreateResponse(1, -1))  # no Display Control here
        c.send_dvc(dvc.CreateResponse(GFX_CHANNEL_ID, 0))
        caps = gfx.CapsAdvertise((gfx.CapSet(gfx.CapVersion.V81, (0x10).to_bytes(4, "little")),))
        c.send_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(caps)))
        c.timeout = 0.5  # from here on, reads poll

    def read(self, seconds: float, ack: bool = True) -> list[list[gfx.ServerPdu]]:
        """Graphics frames that arrive within ``seconds`` (acknowledged as they end, if ``ack``)."""
        got: list[list[gfx.ServerPdu]] = []
        current: list[gfx.ServerPdu] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.sock.pump()
            except AssertionError:  # nothing whole within the client's timeout
                pass
            # Every message counts, also those decoded before a timeout cut a pump short: the
            # bulk decompressor's history must see all of them.
            pdus, self.seen = self.sock.received[self.seen:], len(self.sock.received)
            for pdu in pdus:
                if not isinstance(pdu, dvc.DataFirst | dvc.Data) or pdu.channel_id != GFX_CHANNEL_ID:
                    continue
                whole = self.pieces.push(pdu)
                if whole is None:
                    continue
                for message in gfx.split_server(gfx.unsegment(whole, self.zgfx)):
                    current.append(message)
                    if message.cmd == gfx.Cmd.END_FRAME:
                        got.append(current)
                        frame_id = int.from_bytes(message.body[:4], "little")
                        current = []
                        if ack:
                            self.sock.send_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(
                                gfx.FrameAcknowledge(0, frame_id, len(self.frames) + len(got)))))
        self.frames += got
        return got


def _avc_streams(frames: list[list[gfx.ServerPdu]]) -> list[bytes]:
    """The H.264 access units of the AVC420 commands in these frames."""
    out = []
    for frame in frames:
        for pdu in frame:
            if pdu.cmd == gfx.Cmd.WIRE_TO_SURFACE_1 and int.from_bytes(pdu.body[2:4], "little") == gfx.Codec.AVC420:
                bitmap = pdu.body[17:]
                regions = int.from_bytes(bitmap[:4], "little")
                out.append(bitmap[4 + regions * 10:])
    return out


async def _draw(host, colour: str) -> None:
    proc = await asyncio.create_subprocess_exec("xsetroot", "-solid", colour, env=session_env(host),
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await proc.wait()


async def test_suppress_output_pauses_h264_and_resume_starts_with_a_keyframe(server, host) -> None:
    rdp, port = server
    client = await asyncio.to_thread(GfxClient, port)
    try:
        await asyncio.to_thread(client.open)
        first: list = []
        deadline = time.monotonic() + 15
        while not _avc_streams(first) and time.monotonic() < deadline:
            first += await asyncio.to_thread(client.read, 1.0)
        streams = _avc_streams(first)
        assert streams and streams[0].startswith(SPS), "the first AVC420 picture is not a keyframe"
        (connection,) = rdp.connections
        assert connection.output.gfx.mode == "avc420" and connection.output.gfx.frames_acked > 0

        # Minimised: the session changes, nothing is drawn.
        await asyncio.to_thread(client.sock.send_share_data, SuppressOutput(False))
        await asyncio.sleep(0.3)
        await _draw(host, "#204080")
        paused = await asyncio.to_thread(client.read, 1.5)
        assert _avc_streams(paused) == []

        # Restored: a whole picture first (the stream went on without this client).
        await asyncio.to_thread(client.sock.send_share_data, SuppressOutput(True, Rectangle16(0, 0, 639, 479)))
        resumed = await asyncio.to_thread(client.read, 3.0)
        streams = _avc_streams(resumed)
        assert streams and streams[0].startswith(SPS)
        await _draw(host, "#804020")
        more = await asyncio.to_thread(client.read, 2.0)
        assert more, "nothing drawn after the resume"
        # and then updates again, no more whole pictures (a solid screen: a Planar frame)
        assert not any(s.startswith(SPS) for s in _avc_streams(more))
    finally:
        client.sock.close()


async def test_unacknowledged_frames_hold_the_stream(server, host) -> None:
    """Frame acknowledgements are the flow control: a client that decodes nothing gets at most
    the host's window of frames however much the session changes, then more once it acks."""
    rdp, port = server
    client = await asyncio.to_thread(GfxClient, port)
    try:
        await asyncio.to_thread(client.open)
        deadline = time.monotonic() + 15
        while not client.frames and time.monotonic() < deadline:  # the first picture, unacknowledged
            await asyncio.to_thread(client.read, 1.0, False)
        assert client.frames, "no graphics frame at all"
        for i in range(12):
            await _draw(host, f"#{(i * 20) % 256:02x}30{(255 - i * 20) % 256:02x}")
            await asyncio.sleep(0.05)
        held = await asyncio.to_thread(client.read, 2.0, False)
        assert len(client.frames) <= 4 + 1, f"{len(client.frames)} frames without a single acknowledgement"
        ids = [int.from_bytes(f[-1].body[:4], "little") for f in client.frames]
        client.sock.send_dvc(dvc.Data(GFX_CHANNEL_ID, gfx.encode_client(gfx.FrameAcknowledge(0, max(ids), len(ids)))))
        await _draw(host, "#00ff00")
        after = await asyncio.to_thread(client.read, 4.0)
        assert after, "no frame after the acknowledgement"
        print(f"{len(client.frames) - len(after)} frames sent without any ack ({len(held)} of them after "
              f"12 changes); {len(after)} after the ack")
    finally:
        client.sock.close()


async def test_a_logged_in_clients_reads_go_straight_to_the_layers(server, host, monkeypatch) -> None:
    """Once logged in and active, the client's bytes are handled in the callback that read
    them (``RdpConnection._read_directly``): acknowledgements keep the stream going without the
    read loop's task; an event that needs awaiting (the graphics channel's readiness, whose
    subscription is a call to the host) is handed back to the loop with what followed it, in
    order; the client's end of the stream still ends the connection."""
    handled: list[int] = []
    handed: list[tuple[list, list]] = []
    direct_data = RdpConnection._direct_data
    read_directly = RdpConnection._read_directly

    def counting(self, data: bytes):
        handled.append(len(data))
        return direct_data(self, data)

    async def recording(self):
        result = await read_directly(self)
        if result is not None:
            handed.append(result)
        return result

    monkeypatch.setattr(RdpConnection, "_direct_data", counting)
    monkeypatch.setattr(RdpConnection, "_read_directly", recording)
    rdp, port = server
    client = await asyncio.to_thread(GfxClient, port)
    try:
        await asyncio.to_thread(client.open)
        deadline = time.monotonic() + 15
        while not client.frames and time.monotonic() < deadline:
            await asyncio.to_thread(client.read, 1.0)
        assert client.frames, "no graphics frame at all"
        assert any(isinstance(r, SubscribeGfx) for requests, _ in handed for r in requests), handed
        (connection,) = rdp.connections
        acked, reads = connection.output.gfx.frames_acked, len(handled)
        for i in range(12):  # more frames than the host's window: each needs the one before acknowledged
            await _draw(host, f"#{(i * 20) % 256:02x}60{(255 - i * 20) % 256:02x}")
            await asyncio.to_thread(client.read, 0.3)
        assert connection.output.gfx.frames_acked >= acked + 8
        assert len(handled) >= reads + 8, "the acknowledgements were not read directly"
    finally:
        client.sock.close()
    deadline = time.monotonic() + 5
    while rdp.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not rdp.connections, "the client's end did not end its connection"
