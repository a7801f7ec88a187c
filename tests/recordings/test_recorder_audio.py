"""The recorder's sound path: a host that offers an ``aac`` stream (pushed frames with codec
``aac``, one ADTS frame each, ``pts`` on the picture's clock) gets a second subscription, and
the MP4 carries H.264 and AAC; a host that refuses it gets a picture-only recording.

The host here is a small server speaking the real protocol (``compositor.protocol`` framing,
``compositor.messages`` types) that pushes real frames: H.264 and AAC from the session host's
own encoders. It decides what is offered and refused, and the exact frames, which a real
desktop's sound cannot be held to; ``test_recording_e2e.py`` records a real desktop.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time

import pytest

from compositor import messages
from compositor.protocol import HostProtocol
from tests.recordings.test_mp4 import H, W, aac_packets, video_frames
from webconsole.recordings.recorder import record

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
SECONDS = 3.0


async def serve_host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, sound: bool,
                     seen: list[messages.Request]) -> None:
    protocol = HostProtocol()
    streams: dict[str, int] = {}
    while len(streams) < (2 if sound else 1):
        protocol.receive_data(await reader.read(65536))
        for msg in protocol.events():
            request = messages.decode_request(msg.header, msg.payload)
            seen.append(request)
            if not isinstance(request, messages.Subscribe):
                continue
            if request.format == "aac" and not sound:
                writer.write(messages.pack(messages.ErrorReply("the desktop has no sound server"),
                                           request_id=msg.get("id")))
                continue
            streams[request.format] = len(streams) + 1
            writer.write(messages.pack(messages.SubscribeReply(stream=streams[request.format], width=W, height=H),
                                       request_id=msg.get("id")))
    origin = time.monotonic_ns() // 1000  # the host's clock is the recorder's (CLOCK_MONOTONIC)
    pushes = [(pts, streams["h264"], {"codec": "h264", "key": key, "width": W, "height": H,
                                      "coded": [W, H] if key else None, "rects": [[0, 0, W, H]]}, data)
              for pts, data, key in video_frames(SECONDS, origin=origin)]
    if sound:
        pushes += [(pts, streams["aac"], {"codec": "aac"}, data) for pts, data in aac_packets(SECONDS, origin)]
    seqs: dict[int, int] = {}
    for pts, stream, fields, data in sorted(pushes, key=lambda p: p[0]):
        seqs[stream] = seqs.get(stream, 0) + 1
        frame = messages.Frame.from_encoder(stream, seqs[stream], {**fields, "pts": pts}, data)
        writer.write(messages.pack(frame))
        await writer.drain()
    writer.write(messages.pack(messages.Bye(reason="session ended")))
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()


def run_recording(tmp_path, *, sound: bool):
    seen: list[messages.Request] = []

    async def main():
        sock = tmp_path / "host.sock"
        server = await asyncio.start_unix_server(lambda r, w: serve_host(r, w, sound=sound, seen=seen), path=str(sock))
        async with server:
            return await asyncio.wait_for(record(sock, tmp_path / "rec.mp4", stop=asyncio.Event()), 30)

    outcome = asyncio.run(main())
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_type:format=duration", "-of", "json",
         str(tmp_path / "rec.mp4")], capture_output=True, text=True, timeout=30, check=True).stdout)
    return outcome, info, seen


def test_recorder_takes_sound_when_the_host_offers_it(tmp_path):
    outcome, info, seen = run_recording(tmp_path, sound=True)
    assert not outcome.failed and outcome.reason == "desktop ended"
    assert sorted(s["codec_name"] for s in info["streams"]) == ["aac", "h264"]
    assert abs(float(info["format"]["duration"]) - SECONDS) < 0.5
    assert outcome.progress.has_audio and outcome.progress.audio_packets >= SECONDS * 48000 / 1024 - 3
    video = next(r for r in seen if isinstance(r, messages.Subscribe) and r.format == "h264")
    assert dict(video.options) == {"images": "h264"}, "the shared stream's options, pure H.264 variant"
    acks = [r for r in seen if isinstance(r, messages.Ack)]
    assert not acks or all(a.stream in (1, 2) for a in acks)


def test_recorder_records_picture_only_when_the_host_refuses_sound(tmp_path):
    outcome, info, _ = run_recording(tmp_path, sound=False)
    assert not outcome.failed
    assert [s["codec_name"] for s in info["streams"]] == ["h264"]
    assert not outcome.progress.has_audio
