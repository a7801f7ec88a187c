"""Sound to a real RDP client: xfreerdp with /sound:sys:pulse plays into a PulseAudio of the
test's own (a null sink whose monitor is recorded), and the desktop's tone is found in it: as
AAC (what Debian's xfreerdp takes first) and as PCM (a client held to PCM with ``format:1``),
over the dynamic channel AUDIO_PLAYBACK_DVC (what the server prefers: xfreerdp /sound opens
it) and over the static rdpsnd (a server held to it with ``sound_transport="static"``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from rdpfront import rdpsnd
from rdpfront.channels.sound import AudioPlaybackChannel, SoundChannel, playing_channel
from tests.audio_tone import dominant_frequency, write_tone
from tests.compositor.helpers import request
from tests.conftest import desktop_outdir, desktop_user, end_process, wait_until

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("xfreerdp") is None, reason="xfreerdp not installed")]


@pytest.fixture
def client_pulse(tmp_path):
    """A PulseAudio for the client side: a null sink ``client_out``; its env for xfreerdp."""
    run = tmp_path / "pulse"
    run.mkdir(mode=0o700)
    (run / "default.pa").write_text(
        f"load-module module-native-protocol-unix socket={run}/native auth-anonymous=1 auth-cookie-enabled=0\n"
        "load-module module-null-sink sink_name=client_out rate=48000 channels=2\nset-default-sink client_out\n")
    (run / "client.conf").write_text("autospawn = no\nenable-shm = no\n")
    env = dict(os.environ, PULSE_SERVER=f"unix:{run}/native", PULSE_RUNTIME_PATH=str(run),
               PULSE_CLIENTCONFIG=str(run / "client.conf"), XDG_CONFIG_HOME=str(run), HOME=str(tmp_path))
    proc = subprocess.Popen(["pulseaudio", "--daemonize=no", "--system=no", "--use-pid-file=no", "-n", "-F",
                             str(run / "default.pa"), "--exit-idle-time=-1", "--log-target=stderr"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0, 10,
                   message="the client's PulseAudio")
        yield env
    finally:
        end_process(proc)


def record(env: dict[str, str], path: Path) -> subprocess.Popen:
    return subprocess.Popen(["parec", "--raw", "--format=s16le", "--rate=48000", "--channels=2",
                             "--device=client_out.monitor", str(path)], env=env)


def play_tone(host, freq: float, seconds: float) -> None:
    out = desktop_outdir(desktop_user(), "rdp-tone")
    wav = write_tone(out / "tone.wav", freq, seconds)
    wav.chmod(0o644)
    request(host, "exec", argv=["paplay", "--latency-msec=20", str(wav)])


def playing(rdp):
    return [playing_channel(c.bridge.conn.channel) for c in rdp.server.connections]


async def sound_of(rdp, client):
    """The one connection's channel that plays, once it does (20 s at most)."""
    deadline = time.monotonic() + 20
    while not any(playing(rdp)):
        assert time.monotonic() < deadline, rdp.output(client)
        await asyncio.sleep(0.1)
    (sound,) = playing(rdp)
    return sound


@pytest.mark.parametrize(("transport", "carrier", "idle"), [
    ("auto", AudioPlaybackChannel, rdpsnd.CHANNEL_NAME),  # xfreerdp opens the dynamic channel: it plays there
    ("static", SoundChannel, rdpsnd.DVC_NAME),  # the static rdpsnd, as before AUDIO_PLAYBACK_DVC
])
@pytest.mark.parametrize(("options", "stream", "tag", "waves"), [
    ("", "aac", rdpsnd.WAVE_FORMAT_AAC_MS, 100),  # Debian's xfreerdp decodes AAC (FFmpeg): the host's aac
    (",format:1", "pcm", rdpsnd.WAVE_FORMAT_PCM, 150),  # a client held to PCM: the fallback
])
async def test_xfreerdp_plays_the_desktops_tone(rdp, host, client_pulse, tmp_path, options, stream, tag, waves,
                                               transport, carrier, idle):
    rdp.server.settings.sound_transport = transport
    rdp.env = lambda: dict(client_pulse, **rdp.xvfb.env())
    client = await rdp.client("/sound:sys:pulse" + options)
    await rdp.wait_first_frame()
    sound = await sound_of(rdp, client)
    assert type(sound) is carrier
    assert sound.client_formats[sound.format_no].format_tag == tag
    (conn,) = [c.bridge.conn for c in rdp.server.connections]
    other = conn.channel(idle)
    assert other is None or not other.offered  # the other channel never carried a PDU of sound
    wait_until(lambda: (stream, 1) in [(e["format"], e["subscribers"])
                                       for e in request(host, "status").get("encoders")],
               10, message=f"the RDP client's {stream} stream")
    recording = tmp_path / "heard.raw"
    recorder = record(client_pulse, recording)
    try:
        play_tone(host, 1000, 3)
        await asyncio.sleep(4.5)
    finally:
        end_process(recorder)
    samples = np.frombuffer(recording.read_bytes(), "<i2").reshape(-1, 2)[:, 0].astype(np.float64)
    loud = samples[np.abs(samples) > 1000]
    assert len(loud) > 48000, f"{len(loud)} loud samples heard"
    assert dominant_frequency(samples, 48000) == pytest.approx(1000, abs=10)
    assert sound.sent > waves and sound.dropped == 0
    assert sound.confirmed > waves  # the client's Wave Confirms came back on the same channel
    assert client.returncode is None


async def test_xfreerdp_without_the_dynamic_listener_falls_back_to_rdpsnd(rdp, host, tmp_path):
    """xfreerdp with a drive but no /sound joins rdpsnd with its "fake" device and has no
    AUDIO_PLAYBACK_DVC listener: the server's default rule asks for the DVC, is refused, and
    plays on the static channel, whose waves the client confirms."""
    shared = tmp_path / "shared"
    shared.mkdir()
    client = await rdp.client(f"/drive:share,{shared}")
    await rdp.wait_first_frame()
    sound = await sound_of(rdp, client)
    (conn,) = [c.bridge.conn for c in rdp.server.connections]
    dynamic = conn.channel(rdpsnd.DVC_NAME)
    assert type(sound) is SoundChannel and isinstance(dynamic, AudioPlaybackChannel)
    assert not dynamic.open and not dynamic.offered  # asked for, refused, never spoken on
    play_tone(host, 1000, 2)
    deadline = time.monotonic() + 10
    while sound.confirmed < 50:
        assert time.monotonic() < deadline, f"{sound.sent} waves sent, {sound.confirmed} confirmed"
        await asyncio.sleep(0.1)
    assert client.returncode is None
