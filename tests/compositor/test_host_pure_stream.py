"""A recorder-like subscriber (``images="h264"``) on a real session host's shared H.264
stream: it joins a viewer's running stream on a keyframe for both, while it is on every frame
either of them gets is H.264 (typing included), and once it leaves typing is lossless again."""

from __future__ import annotations

import asyncio

import pytest

from compositor import messages
from tests.compositor.helpers import Subscriber, request, start_host, stop_host


@pytest.fixture(scope="module")
def host():
    h = start_host(800, 600)
    yield h
    stop_host(h)


async def frames_while_typing(host, subs: dict[str, tuple[Subscriber, int]], text: str) -> dict[str, list]:
    """Type ``text`` a character at a time; each subscriber's frames (acked as they come)."""
    got: dict[str, list] = {name: [] for name in subs}

    async def collect(name, sub, stream):
        while True:
            msg = await sub.next("frame", stream=stream, timeout=30)
            got[name].append(msg)
            sub.client.send(messages.Ack(stream=stream, seq=msg.get("seq")))

    tasks = [asyncio.create_task(collect(n, s, st)) for n, (s, st) in subs.items()]
    request(host, "input", events=[{"t": "move", "x": 100, "y": 100}])
    for ch in text:
        request(host, "input", events=[{"t": "text", "text": ch}])
        await asyncio.sleep(0.15)
    await asyncio.sleep(1.0)
    for t in tasks:
        t.cancel()
    return got


async def subscribe(sub: Subscriber, images: str) -> int:
    return (await sub.client.request("subscribe", format="h264", options={"images": images})).get("stream")


async def test_recorder_variant_on_a_viewers_stream(host):
    viewer, recorder = await Subscriber().connect(host), await Subscriber().connect(host)
    try:
        vstream = await subscribe(viewer, "web")
        first = await viewer.next("frame", stream=vstream)
        assert first.get("key") is True
        viewer.client.send(messages.Ack(stream=vstream, seq=first.get("seq")))
        before = await frames_while_typing(host, {"viewer": (viewer, vstream)}, "echo one")
        assert {"prle", "webp"} & {m.get("codec") for m in before["viewer"]}, "typing is lossless for a viewer"

        rstream = await subscribe(recorder, "h264")
        status = request(host, "status").header
        assert [e["subscribers"] for e in status["encoders"] if e["format"] == "h264"] == [2], "one encoder"
        # The recorder's first frame is a keyframe, and the viewer gets that keyframe too.
        rfirst = await recorder.next("frame", stream=rstream)
        assert rfirst.get("key") is True and rfirst.get("codec") == "h264"
        while (msg := await viewer.next("frame", stream=vstream)).get("pts") != rfirst.get("pts"):
            viewer.client.send(messages.Ack(stream=vstream, seq=msg.get("seq")))
        assert msg.get("key") is True
        viewer.client.send(messages.Ack(stream=vstream, seq=msg.get("seq")))
        recorder.client.send(messages.Ack(stream=rstream, seq=rfirst.get("seq")))

        during = await frames_while_typing(host, {"viewer": (viewer, vstream), "recorder": (recorder, rstream)},
                                           " two three")
        assert during["recorder"] and {m.get("codec") for m in during["recorder"]} == {"h264"}
        assert not [m for m in during["viewer"] if m.get("codec") in ("prle", "copy") and not m.get("touchup")], \
            "while recorded, updates reach the viewer as H.264 (touch-ups aside)"

        await recorder.client.request("unsubscribe", stream=rstream)
        after = await frames_while_typing(host, {"viewer": (viewer, vstream)}, " four")
        assert {"prle", "webp"} & {m.get("codec") for m in after["viewer"]}, "lossless again without the recorder"
    finally:
        await viewer.client.close()
        await recorder.client.close()
