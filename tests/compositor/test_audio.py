"""Audio out of a desktop (compositor/audio.py): a tone played by a program in the desktop,
recorded once by the host, encoded once per format, pushed to every subscriber."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import av
import numpy as np
import pytest

from compositor import processes
from tests.audio_tone import dominant_frequency, write_tone
from tests.compositor.helpers import Subscriber, request, start_host, stop_host
from tests.conftest import desktop_outdir, desktop_user, wait_until


@pytest.fixture(scope="module")
def host():
    h = start_host(640, 480)
    yield h
    stop_host(h)


def play_tone(host, freq: float, seconds: float) -> None:
    out = desktop_outdir(desktop_user(), "tone")
    wav = write_tone(out / "tone.wav", freq, seconds)
    wav.chmod(0o644)
    request(host, "exec", argv=["paplay", "--latency-msec=20", str(wav)])


def recorders(host) -> list[int]:
    """The host's capture processes (parec; paplay is the same binary, told apart by its name)."""
    token = json.loads((host.runtime_dir / "host.json").read_text())["token"]
    found = []
    for pid in processes.pids_with_token(token):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--client-name=wrd-capture" in argv and processes.pid_alive(pid):
            found.append(pid)
    return found


async def frames_of(sub: Subscriber, stream: int, seconds: float, first_within: float = 6.0) -> list:
    """The stream's frames for ``seconds`` from the first one (digital silence is not sent: the
    first frame comes with the sound)."""
    try:
        frames = [await sub.next("frame", timeout=first_within, stream=stream)]
    except TimeoutError:
        return []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(await sub.next("frame", timeout=left, stream=stream))
        except TimeoutError:
            break
    return frames


def decode_opus(frames) -> np.ndarray:
    ctx = av.CodecContext.create("libopus", "r")
    ctx.sample_rate = 48000
    ctx.layout = "stereo"
    out = []
    for f in frames:
        for decoded in ctx.decode(av.Packet(f.payload)):
            out.append(decoded.to_ndarray().reshape(-1, 2)[:, 0] if decoded.format.is_packed
                       else decoded.to_ndarray()[0])
    return np.concatenate(out).astype(np.float64)


async def test_one_opus_encoder_serves_every_listener_and_carries_the_tone(host):
    assert recorders(host) == []  # nobody listens: nothing records
    subs = [await Subscriber().connect(host) for _ in range(3)]
    try:
        opus = [(await s.client.request("subscribe", format="opus")).get("stream") for s in subs[:2]]
        pcm = (await subs[2].client.request("subscribe", format="pcm")).get("stream")
        status = request(host, "status").header
        audio = sorted((e["format"], e["subscribers"]) for e in status["encoders"])
        assert audio == [("opus", 2), ("pcm", 1)]
        time.sleep(0.5)
        assert recorders(host) == []  # listeners, but nothing plays: nothing records
        play_tone(host, 1000, 3)
        start = time.monotonic()
        wait_until(lambda: len(recorders(host)) == 1, 5, message="one capture for every listener")
        got = await asyncio.gather(frames_of(subs[0], opus[0], 1.2), frames_of(subs[1], opus[1], 1.2),
                                   frames_of(subs[2], pcm, 1.2))
        for frames in got:
            assert len(frames) > 50, len(frames)
            pts = [f.get("pts") for f in frames]
            assert pts == sorted(pts)
            # pts on the host's monotonic clock (the video's): around when the tone played
            assert 0 < pts[0] / 1e6 - start < 4.0
        assert {f.get("codec") for f in got[0]} == {"opus"}
        # The same packets, encoded once, reach both opus listeners.
        assert [f.payload for f in got[0][:20]] == [f.payload for f in got[1][:20]]
        assert dominant_frequency(decode_opus(got[0]), 48000) == pytest.approx(1000, abs=10)
        samples = np.frombuffer(b"".join(f.payload for f in got[2]), "<i2").reshape(-1, 2)[:, 0]
        assert {f.get("codec") for f in got[2]} == {"pcm"}
        assert dominant_frequency(samples, 48000) == pytest.approx(1000, abs=10)
        # The player ends with its tone: the capture ends with it while the listeners stay.
        wait_until(lambda: recorders(host) == [], 8, message="the capture to end when nothing plays")
    finally:
        for s in subs:
            await s.client.close()
    wait_until(lambda: not any(e["format"] in ("opus", "pcm") for e in request(host, "status").get("encoders")),
               5, message="audio encoders to end with their listeners")
    wait_until(lambda: recorders(host) == [], 5, message="the capture to end with its last listener")


async def test_pcm_at_44100_is_resampled_and_silence_is_not_sent(host):
    sub = await Subscriber().connect(host)
    try:
        stream = (await sub.client.request("subscribe", format="pcm", options={"rate": 44100})).get("stream")
        deadline = time.monotonic() + 8  # an earlier test's tone may still be playing out
        while await frames_of(sub, stream, 0.1, first_within=1.0) and time.monotonic() < deadline:
            pass
        assert await frames_of(sub, stream, 0.1, first_within=1.0) == []  # nothing plays: nothing sent
        play_tone(host, 440, 3)
        frames = await frames_of(sub, stream, 1.0)
        samples = np.frombuffer(b"".join(f.payload for f in frames), "<i2").reshape(-1, 2)[:, 0]
        assert dominant_frequency(samples, 44100) == pytest.approx(440, abs=10)
    finally:
        await sub.client.close()


async def test_aac_packets_are_adts_frames_of_the_tone(host):
    sub = await Subscriber().connect(host)
    try:
        stream = (await sub.client.request("subscribe", format="aac")).get("stream")
        assert ("aac", 1) in [(e["format"], e["subscribers"]) for e in request(host, "status").get("encoders")]
        play_tone(host, 1500, 3)
        frames = await frames_of(sub, stream, 1.0)
        assert len(frames) > 30 and {f.get("codec") for f in frames} == {"aac"}
        for f in frames:  # each packet one ADTS frame: syncword, MPEG-4 LC, 48 kHz, stereo, its own length
            head = f.payload[:7]
            assert head[:2] == b"\xff\xf1" and head[2] >> 6 == 1 and (head[2] >> 2) & 0xF == 3
            assert ((head[2] & 1) << 2 | head[3] >> 6) == 2
            assert ((head[3] & 3) << 11 | head[4] << 3 | head[5] >> 5) == len(f.payload)
        pts = [f.get("pts") for f in frames]
        steps = np.diff(pts)
        assert pts == sorted(pts) and np.median(steps) == pytest.approx(1024 / 48000 * 1e6, abs=200)
        ctx = av.CodecContext.create("aac", "r")  # no extradata: the headers are all a decoder needs
        samples = np.concatenate([d.to_ndarray()[0] for f in frames for d in ctx.decode(av.Packet(f.payload))])
        assert ctx.sample_rate == 48000
        assert dominant_frequency(samples.astype(np.float64), 48000) == pytest.approx(1500, abs=10)
    finally:
        await sub.client.close()


def audio_encoders(host) -> list[tuple[str, int]]:
    return sorted((e["format"], e["subscribers"]) for e in request(host, "status").get("encoders")
                  if e["format"] in ("opus", "aac", "pcm"))


def decode_aac(frames) -> np.ndarray:
    ctx = av.CodecContext.create("aac", "r")
    return np.concatenate([d.to_ndarray()[0] for f in frames for d in ctx.decode(av.Packet(f.payload))]
                          ).astype(np.float64)


@pytest.mark.parametrize("browser_first", [True, False], ids=["browser-first", "rdp-first"])
async def test_a_listener_that_accepts_aac_shares_the_aac_encode_whoever_came_first(host, browser_first):
    """A browser (opus, accepting aac) and an RDP client (aac only): one encoder, aac, in either
    order; a browser alone keeps opus; the RDP client leaving keeps the browser on aac."""
    wait_until(lambda: audio_encoders(host) == [], 5, message="no audio encoders left by earlier tests")
    browser, rdp = await Subscriber().connect(host), await Subscriber().connect(host)
    try:
        async def browser_subscribes() -> int:
            return (await browser.client.request("subscribe", format="opus", options={"accept": ["aac"]})).get("stream")

        if browser_first:
            b_stream = await browser_subscribes()
            assert audio_encoders(host) == [("opus", 1)]
            r_stream = (await rdp.client.request("subscribe", format="aac")).get("stream")
        else:
            r_stream = (await rdp.client.request("subscribe", format="aac")).get("stream")
            b_stream = await browser_subscribes()
        assert audio_encoders(host) == [("aac", 2)]
        deadline = time.monotonic() + 8  # an earlier test's tone may still be playing out
        while any(await asyncio.gather(frames_of(rdp, r_stream, 0.1, first_within=1.0),
                                       frames_of(browser, b_stream, 0.1, first_within=1.0))):
            assert time.monotonic() < deadline, "the desktop stays loud"
        play_tone(host, 1200, 3)
        got_b, got_r = await asyncio.gather(frames_of(browser, b_stream, 1.0), frames_of(rdp, r_stream, 1.0))
        assert {f.get("codec") for f in got_b} == {f.get("codec") for f in got_r} == {"aac"}
        assert len(got_b) > 30 and [f.payload for f in got_b[:20]] == [f.payload for f in got_r[:20]]  # one encode
        assert dominant_frequency(decode_aac(got_b), 48000) == pytest.approx(1200, abs=10)
        await rdp.client.request("unsubscribe", stream=r_stream)
        wait_until(lambda: audio_encoders(host) == [("aac", 1)], 5, message="the browser to stay on aac")
    finally:
        await browser.client.close()
        await rdp.client.close()
    wait_until(lambda: audio_encoders(host) == [], 5, message="audio encoders to end with their listeners")


async def test_a_listener_that_accepts_nothing_else_keeps_its_own_encoder(host):
    """An opus listener without ``accept`` (the recorder) is not moved: two encoders."""
    wait_until(lambda: audio_encoders(host) == [], 5, message="no audio encoders left by earlier tests")
    first, second = await Subscriber().connect(host), await Subscriber().connect(host)
    try:
        await first.client.request("subscribe", format="opus")
        await second.client.request("subscribe", format="aac")
        assert audio_encoders(host) == [("aac", 1), ("opus", 1)]
    finally:
        await first.client.close()
        await second.client.close()


async def test_bad_audio_subscriptions_are_refused(host):
    sub = await Subscriber().connect(host)
    try:
        for fmt, options, text in [("opus", {"bitrate": 1}, "no options"), ("aac", {"rate": 44100}, "no options"),
                                   ("pcm", {"rate": 8000}, "rate"),
                                   ("pcm", {"depth": 24}, "only the option rate"),
                                   ("opus", {"accept": "aac"}, "accept: a list"),
                                   ("opus", {"accept": ["pcm"]}, "accept: a list"),
                                   ("opus", {"accept": ["aac"] * 9}, "accept: a list"),
                                   ("aac", {"accept": [{"x": 1}]}, "accept: a list"),
                                   ("pcm", {"accept": ["aac"]}, "accept: only")]:
            with pytest.raises(Exception, match=text):
                await sub.client.request("subscribe", format=fmt, options=options)
        assert request(host, "status").get("subscribers") == 0
    finally:
        await sub.client.close()
