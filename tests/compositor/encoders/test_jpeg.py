from __future__ import annotations

import io

import numpy as np
import simplejpeg
from PIL import Image

from compositor.encoders import ENCODERS, load_builtin_encoders
from tests.compositor.encoders.conftest import decode_prle

load_builtin_encoders()


def _paint(canvas: np.ndarray, frame) -> None:
    off = 0
    for x, y, w, h, n in frame.fields["rects"]:
        data = frame.payload[off:off + n]
        if frame.fields["codec"] == "jpeg":
            img = simplejpeg.decode_jpeg(data, colorspace="BGR")
        elif frame.fields["codec"] == "prle":
            img = decode_prle(data, w, h)
        else:
            img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[:, :, ::-1]
        assert img.shape[:2] == (h, w)
        canvas[y:y + h, x:x + w] = img
        off += n
    assert off == len(frame.payload)


def test_full_then_damage(terminal_screen, psnr):
    screen = terminal_screen.copy()
    enc = ENCODERS["jpeg"](1920, 1080, {"small": 0, "flat": 0})
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    (f,) = enc.encode(screen, [], full=True)
    assert f.fields["codec"] == "jpeg"
    _paint(canvas, f)
    assert psnr(canvas, screen[:, :, :3]) > 30
    screen[100:114, 50:57] = 255
    screen[100:114, 60:67] = 255
    screen[900:910, 1800:1900] = 80
    (f,) = enc.encode(screen, [(50, 100, 7, 14), (60, 100, 7, 14), (1800, 900, 100, 10)],
                      full=False)
    rects = f.fields["rects"]
    assert len(rects) == 2  # the two neighbours merged, the far one separate
    assert all(r[0] % 16 == 0 and r[1] % 16 == 0 for r in rects)
    assert len(f.payload) < 20_000
    _paint(canvas, f)
    assert psnr(canvas, screen[:, :, :3]) > 30


def test_touchup_makes_it_exact(terminal_screen):
    screen = terminal_screen[:400, :600]  # strided view
    enc = ENCODERS["jpeg"](600, 400, {"settle": 0.2, "budget": 64 * 600})
    canvas = np.zeros((400, 600, 3), np.uint8)
    _paint(canvas, enc.encode(screen, [], full=True)[0])
    assert not np.array_equal(canvas, screen[:, :, :3])
    now = 0.0
    for _ in range(40):
        now += 0.1
        for f in enc.idle(screen, now):
            _paint(canvas, f)
    assert np.array_equal(canvas, screen[:, :, :3])
    assert enc.idle(screen, now + 1) == []


def test_nothing_damaged_nothing_sent(terminal_screen):
    enc = ENCODERS["jpeg"](100, 100, {})
    assert enc.encode(terminal_screen[:100, :100], [], full=False) == []


def test_small_damage_goes_lossless(terminal_screen):
    screen = terminal_screen.copy()
    enc = ENCODERS["jpeg"](1920, 1080, {})
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    _paint(canvas, enc.encode(screen, [], full=True)[0])
    screen[100:180, 50:130] = 255
    (f,) = enc.encode(screen, [(50, 100, 80, 80)], full=False)
    assert f.fields["codec"] == "prle"  # one colour: a few runs, decoded synchronously
    _paint(canvas, f)
    assert np.array_equal(canvas[100:180, 50:130], screen[100:180, 50:130, :3])
    screen[100:160, 50:110, :3] = np.random.default_rng(1).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    (f,) = enc.encode(screen, [(50, 100, 60, 60)], full=False)
    assert f.fields["codec"] == "webp"  # small, whatever its content; past 256 colours
    _paint(canvas, f)
    assert np.array_equal(canvas[100:180, 50:130], screen[100:180, 50:130, :3])


def test_tiny_damage_goes_palette_rle(terminal_screen, decode_prle):
    screen = terminal_screen.copy()
    enc = ENCODERS["jpeg"](1920, 1080, {})
    enc.encode(screen, [], full=True)
    screen[100:115, 50:58] = 7
    (f,) = enc.encode(screen, [(50, 100, 8, 15)], full=False)
    assert f.fields["codec"] == "prle"
    ((x, y, w, h, n),) = f.fields["rects"]
    assert (x, y, w, h) == (50, 100, 8, 15) and n == len(f.payload) < 100
    assert np.array_equal(decode_prle(f.payload, w, h), screen[100:115, 50:58, :3])
