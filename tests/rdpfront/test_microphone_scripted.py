"""AUDIO_INPUT against the running server (TCP, TLS, the asyncio driver, a real session host)
with a scripted MS-RDPEAI client (``helpers.SocketClient``): what xfreerdp never sends —
a stream faster than real time, a format the server never offered — reaches the desktop
bounded, or closes that channel only while the connection goes on."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from rdpfront import audin, dvc
from rdpfront.channels.registry import dynamic_channel_id
from rdpfront.rdp.client_info import InfoFlags
from rdpfront.rdp.pdus import Rectangle16, RefreshRect
from tests.microphone_util import Recorder, sine, tone
from tests.rdpfront.helpers import SocketClient
from tests.rdpfront.xfreerdp import PASSWORD, Harness

AUDIN_ID = dynamic_channel_id(audin.CHANNEL_NAME)
CLIENT_FORMATS = (audin.AudioFormat.pcm(44100, 2), audin.AudioFormat.pcm(48000, 2))


def _audin(client: SocketClient, timeout: float = 10.0) -> list[object]:
    """The server's SNDIN PDUs (and DVC Closes) on the channel, waiting for at least one."""
    deadline = time.monotonic() + timeout
    out: list[object] = []
    while not out and time.monotonic() < deadline:
        for pdu in client.pump():
            if isinstance(pdu, dvc.Data) and pdu.channel_id == AUDIN_ID:
                out.append(audin.decode_audin(pdu.data, from_server=True))
            elif isinstance(pdu, dvc.Close) and pdu.channel_id == AUDIN_ID:
                out.append(pdu)
    return out


def _send(client: SocketClient, pdu: audin.AudinPdu) -> None:
    for piece in dvc.split_message(AUDIN_ID, audin.encode_audin(pdu)):
        client.send_dvc(piece)


def _open_microphone(port: int) -> SocketClient:
    """Connected, AUDIO_INPUT negotiated as FreeRDP does it, 48 kHz stereo opened."""
    client = SocketClient(port)
    client.connect(username="alice", password=PASSWORD, channels=("cliprdr", "drdynvc"),
                   info_flags=InfoFlags.INFO_AUDIOCAPTURE)
    # The server asks for drdynvc's capabilities once active (perhaps already read by connect).
    while not any(isinstance(p, dvc.CapsRequest) for p in client.received):
        client.pump()
    client.send_dvc(dvc.CapsResponse(1))
    while not any(isinstance(p, dvc.CreateRequest) and p.name == audin.CHANNEL_NAME for p in client.received):
        client.pump()
    client.send_dvc(dvc.CreateResponse(AUDIN_ID, 0))
    assert _audin(client) == [audin.Version(1)]
    _send(client, audin.Version(1))
    assert isinstance(_audin(client)[0], audin.Formats)
    _send(client, audin.DataIncoming())
    _send(client, audin.Formats(CLIENT_FORMATS))
    (open_pdu,) = _audin(client)
    assert open_pdu == audin.Open(960, 1, CLIENT_FORMATS[1])
    _send(client, audin.FormatChange(1))
    _send(client, audin.OpenReply(0))
    return client


def _play(client: SocketClient, pcm_stereo: bytes, *, real_time: bool) -> None:
    step = 960 * 4  # 20 ms of 48 kHz stereo s16
    start = time.monotonic()
    for i, at in enumerate(range(0, len(pcm_stereo), step)):
        _send(client, audin.DataIncoming())
        _send(client, audin.Data(pcm_stereo[at:at + step]))
        if real_time:
            time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))


def _script(port: int) -> dict:
    client = _open_microphone(port)
    try:
        _play(client, sine(500, 1.0, channels=2), real_time=True)
        time.sleep(1.5)  # the sender's hold on the microphone lapses: the flood is a new stream
        _play(client, sine(900, 6.0, channels=2), real_time=False)  # 6 s at once
        time.sleep(0.8)
        _send(client, audin.FormatChange(0))  # 44.1 kHz: the client's, never offered
        closed = _audin(client)
        _send(client, audin.Data(bytes(3840)))  # still in flight: ignored
        client.send_dvc(dvc.Close(AUDIN_ID))
        # The connection goes on: the server still answers and draws.
        client.send_share_data(RefreshRect((Rectangle16(0, 0, 99, 99),)))
        still = client.pump()
        return {"closed": closed, "still": len(still)}
    finally:
        client.close()


async def test_a_scripted_client_is_recorded_bounded_and_cut_off_alone(rdp: Harness, host) -> None:
    recorder = await asyncio.to_thread(Recorder, host, "rdp-scripted-mic")
    try:
        result = await asyncio.to_thread(_script, rdp.port)
        await asyncio.sleep(0.5)
    finally:
        samples = await asyncio.to_thread(recorder.stop)
    assert result["closed"] == [dvc.Close(AUDIN_ID)]
    assert result["still"] > 0
    # Where the 500 Hz part ends and the 900 Hz flood begins: by the spectrum of each 100 ms.
    x = samples.astype(np.float64)
    blocks = x[:len(x) // 4800 * 4800].reshape(-1, 4800)
    loud = np.sqrt((blocks ** 2).mean(axis=1)) > 1000
    peaks = np.argmax(np.abs(np.fft.rfft(blocks, axis=1)), axis=1) * 10  # Hz (10 Hz bins)
    first = blocks[loud & (abs(peaks - 500) <= 10)].reshape(-1)
    flood = blocks[loud & (abs(peaks - 900) <= 10)].reshape(-1)
    freq, seconds = tone(first.astype(np.int16))
    assert abs(freq - 500) < 2 and 0.9 <= seconds <= 1.1, (freq, seconds)
    freq, flood_seconds = tone(flood.astype(np.int16))
    print(f"scripted client: real-time part {seconds:.2f} s; of 6 s sent at once {flood_seconds:.2f} s recorded")
    seconds = flood_seconds
    assert abs(freq - 900) < 2, freq
    assert 0.3 <= seconds <= 0.8, seconds  # of the 6 s sent at once: the slack (0.5 s), not more
