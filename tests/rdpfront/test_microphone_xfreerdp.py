"""The client's microphone with Debian's real xfreerdp 2.11 (``/microphone:sys:pulse``): its
PulseAudio (a test PulseAudio of the client's side whose default source plays a tone) is
captured, carried over AUDIO_INPUT ([MS-RDPEAI]) and recorded by ``parec`` in the desktop
from its default source."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from rdpfront import audin
from rdpfront.channels.audio_input import AudioInputChannel, State
from rdpfront.channels.drdynvc import DynamicChannels
from tests.microphone_util import ClientPulse, Recorder, tone
from tests.rdpfront.xfreerdp import Harness

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp (freerdp2-x11) is not installed"),
]

FREQ = 740.0


async def _recorded_tone(recorder: Recorder, seconds: float, timeout: float = 25.0) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    found = (0.0, 0.0)
    while time.monotonic() < deadline:
        found = tone(recorder.samples())
        if found[1] >= seconds:
            break
        await asyncio.sleep(0.3)
    return found


async def test_xfreerdp_microphone_is_recorded_in_the_desktop(rdp: Harness, host, tmp_path) -> None:
    pulse = ClientPulse(tmp_path, FREQ)
    recorder = await asyncio.to_thread(Recorder, host, "rdp-mic")
    try:
        rdp.extra_env = pulse.env
        await rdp.client("/microphone:sys:pulse")
        await rdp.wait_first_frame()
        freq, seconds = await _recorded_tone(recorder, 2.0)
        (connection,) = rdp.server.connections
        drdynvc = connection.conn.channel(DynamicChannels.name)
        channel = drdynvc.subchannel(audin.CHANNEL_NAME)
        assert isinstance(channel, AudioInputChannel)
        assert channel.state is State.OPEN and channel.packets > 50
        assert channel.format is not None and channel.format.samples_per_sec == 48000
        print(f"xfreerdp microphone: {channel.format}, {channel.packets} packets; "
              f"recorded {seconds:.2f} s of tone at {freq:.2f} Hz")
    finally:
        await rdp.stop_clients()
        await asyncio.to_thread(recorder.stop)
        pulse.close()
    assert abs(freq - FREQ) < 2, freq
    assert seconds >= 2.0


async def test_without_microphone_redirection_the_channel_is_not_asked_for(rdp: Harness, host) -> None:
    await rdp.client()
    await rdp.wait_first_frame()
    await asyncio.sleep(1.0)
    (connection,) = rdp.server.connections
    drdynvc = connection.conn.channel(DynamicChannels.name)
    assert drdynvc.subchannel(audin.CHANNEL_NAME) is None
    assert connection.conn.display_control_open or connection.conn.gfx_ready
