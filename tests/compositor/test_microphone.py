"""The desktop's microphone (compositor/microphone.py): ``microphone`` requests become the
default source of the desktop's real PulseAudio, which a program in the desktop records; a
stream faster than real time is bounded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from compositor import messages
from compositor.client import BlockingHostClient, HostError
from compositor.microphone import BYTES_PER_SECOND, SLACK, SOURCE, Microphone, Pacer
from tests.compositor.helpers import start_host, stop_host
from tests.microphone_util import Recorder, sine, tone

CHUNK = 0.02  # seconds of audio per request, as the front ends send it


# -- the pacer, sans-IO -----------------------------------------------------------------------


def test_the_pacer_takes_real_time_and_a_little_slack() -> None:
    pacer = Pacer(rate=1000, slack=0.5)
    assert pacer.admit(400, 0.0) == 400
    assert pacer.admit(400, 0.0) == 100  # the slack (500 bytes) is spent
    assert pacer.admit(400, 0.1) == 100  # 0.1 s later: 100 bytes more
    assert pacer.admit(100, 0.2) == 100
    # A steady real-time stream is never cut.
    now = 10.0
    assert all(pacer.admit(20, now + i * 0.02) == 20 for i in range(500))
    # Whole samples only.
    assert Pacer(rate=1000, slack=0.001).admit(5, 0.0) == 0
    assert Pacer(rate=1000, slack=0.003).admit(5, 0.0) == 2


def test_a_stream_that_stalled_may_catch_up_but_never_run_more_than_the_capacity_ahead() -> None:
    pacer = Pacer(rate=1000, slack=0.5, capacity=1.0)
    assert pacer.admit(20, 0.0) == 20
    assert pacer.admit(400, 0.4) == 400  # 0.4 s late: its backlog plays
    assert pacer.admit(5000, 10.0) == 1000  # credit is capped
    pacer.restart(20.0)
    assert pacer.admit(5000, 20.0) == 500  # a new stream: the slack only


def test_a_flood_keeps_at_most_the_slack_ahead_of_real_time() -> None:
    pacer = Pacer()
    kept = sum(pacer.admit(BYTES_PER_SECOND // 10, 0.001 * i) for i in range(100))  # 10 s in 0.1 s
    assert abs(kept - BYTES_PER_SECOND * (SLACK + 0.1)) <= BYTES_PER_SECOND * 0.01


def test_one_sender_at_a_time_has_the_microphone() -> None:
    mic = Microphone(dict, session="t")  # no sound server: nothing is written, the choice is made
    first, second = object(), object()
    chunk = bytes(960 * 2)
    assert mic.feed(chunk, 0.0, sender=first) == 0 and mic.owner is first
    mic.feed(chunk, 0.02, sender=second)
    assert mic.owner is first  # still speaking
    mic.feed(chunk, 0.5, sender=first)
    mic.feed(chunk, 1.4, sender=second)
    assert mic.owner is first  # first's last audio was 0.9 s ago
    mic.feed(chunk, 1.6, sender=second)
    assert mic.owner is second
    mic.release(second)  # its connection closed
    mic.feed(chunk, 1.61, sender=first)
    assert mic.owner is first


# -- a real desktop ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host():
    h = start_host(640, 480)
    yield h
    stop_host(h)


def host_log(host) -> str:
    return (Path(os.environ["WRD_VAR_DIR"]) / "log" / f"{host.runtime_dir.name}.log").read_text()


def play(client: BlockingHostClient, pcm: bytes, *, chunk: float = CHUNK, real_time: bool = True) -> None:
    step = int(BYTES_PER_SECOND * chunk)
    start = time.monotonic()
    for i, at in enumerate(range(0, len(pcm), step)):
        client.send(messages.Microphone(pcm[at:at + step]))
        if real_time:
            time.sleep(max(0.0, start + (i + 1) * chunk - time.monotonic()))


def test_a_program_in_the_desktop_records_the_tone(host) -> None:
    recorder = Recorder(host, "mic-tone")
    try:
        assert recorder.default_source == SOURCE
        with BlockingHostClient(host.socket_path) as client:
            play(client, sine(1000, 1.5))
        time.sleep(0.5)
    finally:
        samples = recorder.stop()
    freq, seconds = tone(samples)
    assert abs(freq - 1000) < 2, freq
    assert 1.3 < seconds < 1.7, seconds
    # Before the tone the source gave silence on its own clock: the recorder was not kept waiting.
    assert len(samples) / 48000 > seconds + 0.5


def test_a_stream_faster_than_real_time_is_cut_to_the_slack_and_logged_once(host) -> None:
    recorder = Recorder(host, "mic-flood")
    try:
        with BlockingHostClient(host.socket_path) as client:
            play(client, sine(660, 5.0), chunk=0.5, real_time=False)  # 5 s of audio at once
            play(client, sine(660, 3.0), chunk=0.1, real_time=False)  # and 3 s more
            time.sleep(1.5)
            logged = host_log(host).count("microphone audio dropped: faster than real time")
            play(client, sine(880, 0.6))  # then a real-time stream again: all of it arrives
        time.sleep(0.5)
    finally:
        samples = recorder.stop()
    assert logged == 1
    assert "microphone audio flows again after" in host_log(host)
    split = len(samples) - int(0.5 * 48000) - int(0.6 * 48000) - 4800  # where the 880 Hz part begins at most
    freq, flood_seconds = tone(samples[:split])
    assert abs(freq - 660) < 3, freq
    assert flood_seconds <= SLACK + 0.25, flood_seconds  # of 8 s sent
    freq, seconds = tone(samples[split:])
    assert abs(freq - 880) < 3 and seconds > 0.5, (freq, seconds)


def test_malformed_microphone_requests_are_refused_and_the_connection_stays(host) -> None:
    with BlockingHostClient(host.socket_path) as client:
        with pytest.raises(HostError, match="microphone: rate 44100 out of range"):
            client.request("microphone", rate=44100, channels=1)
        assert client.request("status").get("sound_server")
