"""The ``images="h264"`` variant (a recording): while a subscriber takes it, the shared encoder
sends every update as H.264, so the H.264 frames alone decode to the screen."""

from __future__ import annotations

import av
import numpy as np

from compositor.encoders import ENCODERS, load_builtin_encoders
from compositor.encoders.h264 import PURE
from tests.compositor.encoders.test_scroll import text_screen

load_builtin_encoders()

W, H = 320, 240
OPTIONS = {"colour": "bt601", "pad": "sps"}  # lossless shortcuts, copies and touch-ups as by default


def terminal(lines: int) -> np.ndarray:
    """White page with ``lines`` rows of black 'text' blocks (flat content: lossless by default)."""
    s = np.full((H, W, 4), 255, np.uint8)
    for i in range(lines):
        y = 10 + i * 14
        for x in np.random.default_rng(i).choice(np.arange(8, W - 16, 9), size=12, replace=False):
            s[y:y + 10, x:x + 6, :3] = 0  # a different "word" pattern on every line
    return s


def decode(payloads: list[bytes]) -> np.ndarray:
    dec = av.CodecContext.create("h264", "r")
    pictures = [f.to_ndarray(format="bgr24") for p in payloads for f in dec.decode(av.Packet(p))]
    return pictures[-1]


def typed(enc, steps: int) -> tuple[list, np.ndarray]:
    """Frames for a keyframe of a blank page, then one text line added per step."""
    frames = list(enc.encode(terminal(0), [], full=True))
    screen = terminal(0)
    for i in range(1, steps + 1):
        screen = terminal(i)
        y = 10 + (i - 1) * 14
        frames += enc.encode(screen, [(0, y, W, 10)], full=False)
    return frames, screen


def test_shared_stream_sends_typing_losslessly_without_the_pure_variant():
    enc = ENCODERS["h264"](W, H, OPTIONS)
    enc.set_variants({"web"})
    frames, _ = typed(enc, 5)
    assert {f.fields["codec"] for f in frames[1:]} <= {"prle", "webp"}


def test_pure_variant_makes_every_update_h264_and_the_stream_alone_decodes_to_the_screen():
    enc = ENCODERS["h264"](W, H, OPTIONS)
    enc.set_variants({"web", PURE})
    frames, screen = typed(enc, 12)
    assert [f.fields["codec"] for f in frames] == ["h264"] * 13
    assert all(f.variant is None for f in frames), "every subscriber gets the same H.264 frames"
    picture = decode([f.payload for f in frames]).astype(int)
    diff = np.abs(picture - screen[..., :3].astype(int)).mean()
    assert diff < 3.0, f"decoded picture differs from the screen by {diff:.2f} on average"
    # The same typing without the variant: H.264 frames alone miss the text.
    plain = ENCODERS["h264"](W, H, OPTIONS)
    plain.set_variants({"web"})
    frames, screen = typed(plain, 12)
    h264_only = decode([f.payload for f in frames if f.fields["codec"] == "h264"]).astype(int)
    assert np.abs(h264_only - screen[..., :3].astype(int)).mean() > 10 * diff + 5


def test_pure_variant_sends_no_copies_on_a_scroll():
    first, scrolled, again = (text_screen(W, H, list(range(n, n + 15))) for n in (0, 2, 4))
    plain = ENCODERS["h264"](W, H, OPTIONS)
    plain.set_variants({"web"})
    plain.encode(first, [], full=True)
    assert "copy" in {f.fields["codec"] for f in plain.encode(scrolled, [(0, 0, W, H)], full=False)}
    enc = ENCODERS["h264"](W, H, OPTIONS)
    enc.set_variants({"web", PURE})
    enc.encode(first, [], full=True)
    assert [f.fields["codec"] for f in enc.encode(scrolled, [(0, 0, W, H)], full=False)] == ["h264"]
    enc.set_variants({"web"})  # the recording ended: copies again, from what everyone holds
    assert "copy" in {f.fields["codec"] for f in enc.encode(again, [(0, 0, W, H)], full=False)}


def test_pure_subscriber_gets_no_catch_up_and_no_touch_ups():
    enc = ENCODERS["h264"](W, H, OPTIONS)
    enc.set_variants({"web", PURE})
    enc.encode(terminal(3), [], full=True)
    assert enc.catch_up(terminal(3), 7, PURE) is None, "a recording joins on a keyframe for all"
    assert enc.catch_up(terminal(3), 8, "web") is not None
    enc.encode(terminal(4), [(0, 0, W, H)], full=False)
    enc.idle(terminal(4), 100.0)  # the damaged tiles' first quiet moment
    touchups = enc.idle(terminal(4), 101.0)
    assert touchups and {f.variant for f in touchups} == {"web"}
    alone = ENCODERS["h264"](W, H, OPTIONS)
    alone.set_variants({PURE})
    alone.encode(terminal(3), [], full=True)
    alone.encode(terminal(4), [(0, 0, W, H)], full=False)
    alone.idle(terminal(4), 100.0)
    assert alone.idle(terminal(4), 101.0) == []
