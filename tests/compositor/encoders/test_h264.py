from __future__ import annotations

import av
import numpy as np
import pytest

from compositor.encoders import ENCODERS, load_builtin_encoders

load_builtin_encoders()

# PyAV's conversion to BGR assumes limited-range BT.601: tests that compare decoded pixels with
# the input encode that way (and with SPS cropping, so the decoded size is the visible size).
BT601 = {"colour": "bt601", "pad": "sps"}


def _decode(decoder, frame) -> list[np.ndarray]:
    return [f.to_ndarray(format="bgr24") for f in decoder.decode(av.Packet(frame.payload))]


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768), (333, 201)])
def test_keyframe_then_damage_decodes_close_to_input(terminal_screen, psnr, size):
    w, h = size
    screen = np.ascontiguousarray(terminal_screen[:h, :w])
    enc = ENCODERS["h264"](w, h, {"small": 0, "flat": 0, **BT601})
    assert enc.stateful
    dec = av.CodecContext.create("h264", "r")
    (key,) = enc.encode(screen, [], full=True)
    assert key.fields["key"] is True
    assert key.fields["rects"] == [[0, 0, w, h]]
    assert key.payload.startswith(b"\x00\x00\x00\x01")  # Annex-B start code
    (pic,) = _decode(dec, key)
    ew, eh = w + (w & 1), h + (h & 1)
    assert pic.shape[:2] == (eh, ew)  # SPS cropping: decoder outputs the (even) visible size
    assert psnr(pic[:h, :w], screen[:, :, :3]) > 35

    screen[40:60, 30:200] = (0, 0, 255, 0)
    (p,) = enc.encode(screen, [(30, 40, 170, 20)], full=False)
    assert p.fields["key"] is False and p.fields["rects"] == [[30, 40, 170, 20]]
    assert len(p.payload) < len(key.payload) // 10
    (pic,) = _decode(dec, p)
    assert psnr(pic[:h, :w], screen[:, :, :3]) > 35
    assert psnr(pic[40:60, 30:200], screen[40:60, 30:200, :3]) > 30


def test_no_damage_no_frame_and_keyframe_on_demand(terminal_screen):
    enc = ENCODERS["h264"](640, 480, {})
    screen = np.ascontiguousarray(terminal_screen[:480, :640])
    assert enc.encode(screen, [], full=False)[0].fields["key"]  # first frame is always key
    assert enc.encode(screen, [], full=False) == []
    assert enc.encode(screen, [(0, 0, 0, 0)], full=False) == []
    again = enc.encode(screen, [], full=True)[0]
    assert again.fields["key"]
    # A fresh decoder can start from any keyframe (SPS/PPS repeated, IDR).
    dec = av.CodecContext.create("h264", "r")
    assert len(dec.decode(av.Packet(again.payload))) == 1


def test_explicit_padding_is_16_aligned(terminal_screen):
    enc = ENCODERS["h264"](1366, 767, {"pad": "explicit"})
    (key,) = enc.encode(np.ascontiguousarray(terminal_screen[:767, :1366]), [], full=True)
    assert key.fields["coded"] == [1376, 768]
    dec = av.CodecContext.create("h264", "r")
    (pic,) = dec.decode(av.Packet(key.payload))
    assert (pic.width, pic.height) == (1376, 768)


def test_resize_restarts_with_keyframe(terminal_screen, psnr):
    enc = ENCODERS["h264"](800, 600, BT601)
    enc.encode(np.ascontiguousarray(terminal_screen[:600, :800]), [], full=True)
    enc.resize(1024, 768)
    screen = np.ascontiguousarray(terminal_screen[:768, :1024])
    (f,) = enc.encode(screen, [(0, 0, 10, 10)], full=False)
    assert f.fields["key"] and f.fields["width"] == 1024
    (pic,) = av.CodecContext.create("h264", "r").decode(av.Packet(f.payload))
    assert psnr(pic.to_ndarray(format="bgr24"), screen[:, :, :3]) > 35


def test_strided_screen_view(terminal_screen, psnr):
    """The host hands a view of the mmapped framebuffer, wider than the visible size."""
    view = terminal_screen[:500, :700]
    enc = ENCODERS["h264"](700, 500, BT601)
    (f,) = enc.encode(view, [], full=True)
    (pic,) = av.CodecContext.create("h264", "r").decode(av.Packet(f.payload))
    assert psnr(pic.to_ndarray(format="bgr24"), view[:, :, :3]) > 35


def test_touchup_after_quiet_is_lossless(terminal_screen):
    enc = ENCODERS["h264"](640, 480, {"settle": 0.2})
    screen = np.ascontiguousarray(terminal_screen[:480, :640])
    enc.encode(screen, [], full=True)
    assert enc.idle(screen, 10.0) == []
    frames = []
    now = 10.0
    while now < 20:
        now += 0.1
        frames += enc.idle(screen, now)
    _check_lossless(frames, screen)


def _check_lossless(frames, screen):
    import io

    from PIL import Image

    canvas = np.zeros_like(screen[:, :, :3])
    for f in frames:
        assert f.fields["codec"] == "webp"
        off = 0
        for x, y, w, h, n in f.fields["rects"]:
            img = np.asarray(Image.open(io.BytesIO(f.payload[off:off + n])).convert("RGB"))
            canvas[y:y + h, x:x + w] = img[:, :, ::-1]
            off += n
        assert off == len(f.payload)
    assert np.array_equal(canvas, screen[:, :, :3])


def test_small_damage_is_lossless_and_mixes_with_video(terminal_screen, psnr, decode_prle):
    """Paint frames as the browser does (video: only its rects; images: as they are)."""
    import io

    from PIL import Image

    w, h = 800, 600
    screen = np.ascontiguousarray(terminal_screen[:h, :w])
    enc = ENCODERS["h264"](w, h, {"lossless": False, **BT601})
    dec = av.CodecContext.create("h264", "r")
    canvas = np.zeros((h, w, 3), np.uint8)

    def paint(frame):
        if frame.fields["codec"] == "h264":
            (pic,) = _decode(dec, frame)
            for x, y, rw, rh in frame.fields["rects"]:
                canvas[y:y + rh, x:x + rw] = pic[y:y + rh, x:x + rw]
            return
        off = 0
        for x, y, rw, rh, n in frame.fields["rects"]:
            data = frame.payload[off:off + n]
            if frame.fields["codec"] == "prle":
                img = decode_prle(data, rw, rh)
            else:
                img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[:, :, ::-1]
            canvas[y:y + rh, x:x + rw] = img
            off += n

    paint(enc.encode(screen, [], full=True)[0])
    screen[100:115, 40:48] = (0, 0, 0, 0)  # a typed character
    (small,) = enc.encode(screen, [(40, 100, 8, 15)], full=False)
    assert small.fields["codec"] == "prle" and len(small.payload) < 200
    paint(small)
    assert np.array_equal(canvas[100:115, 40:48], screen[100:115, 40:48, :3])
    # A big picture-like change (a grey ramp: a new shade every two or three pixels) goes
    # through H.264.
    screen[200:500, 100:700, :3] = (np.arange(600) * 255 // 600).astype(np.uint8)[None, :, None]
    (big,) = enc.encode(screen, [(100, 200, 600, 300)], full=False)
    assert big.fields["codec"] == "h264"
    paint(big)
    assert np.array_equal(canvas[100:115, 40:48], screen[100:115, 40:48, :3])  # not overdrawn
    assert psnr(canvas, screen[:, :, :3]) > 35
    # A big flat change (a plain panel) stays lossless, and exact.
    screen[50:350, 150:750] = (30, 200, 90, 0)
    (panel,) = enc.encode(screen, [(150, 50, 600, 300)], full=False)
    assert panel.fields["codec"] == "prle"  # one colour: runs, decoded synchronously
    paint(panel)
    assert np.array_equal(canvas[50:350, 150:750], screen[50:350, 150:750, :3])


def test_rate_control_constant_quantiser_by_default_and_crf_on_request(terminal_screen, psnr):
    """Default: a constant quantiser (x264 skips its look-ahead cost estimate); a lower qp
    gives a larger, closer keyframe; ``crf`` still selects CRF; out-of-range qp is refused."""
    screen = np.ascontiguousarray(terminal_screen[:480, :640])
    sizes = {}
    for name, options in {"default": {}, "qp20": {"qp": 20}, "qp40": {"qp": 40}, "crf": {"crf": 26}}.items():
        enc = ENCODERS["h264"](640, 480, {**options, **BT601})
        (key,) = enc.encode(screen, [], full=True)
        (pic,) = _decode(av.CodecContext.create("h264", "r"), key)
        assert psnr(pic[:480, :640], screen[:, :, :3]) > (25 if name == "qp40" else 35)
        sizes[name] = len(key.payload)
    assert ENCODERS["h264"](64, 64, {}).rate == {"qp": "30"}
    assert ENCODERS["h264"](64, 64, {"crf": 30}).rate == {"crf": "30"}
    assert sizes["qp20"] > sizes["default"] > sizes["qp40"]
    with pytest.raises(ValueError, match="qp"):
        ENCODERS["h264"](64, 64, {"qp": 60})


def test_defaults_full_range_bt709_and_planar_touchups_for_rdp_subscribers(terminal_screen):
    """The stream's defaults: full-range BT.709 (MS-RDPEGFX 3.3.8.3.1), signalled in the SPS's
    VUI; with an RDP subscriber (variant ``planar``), touch-ups as Planar with top-down scanlines
    (encoded here, once for every client)."""
    from compositor.encoders.planar import decode_planar

    enc = ENCODERS["h264"](640, 480, {"settle": 0.2, "small": 0, "flat": 0})
    enc.set_variants({"planar"})
    screen = np.ascontiguousarray(terminal_screen[:480, :640])
    (key,) = enc.encode(screen, [], full=True)
    dec = av.CodecContext.create("h264", "r")
    (pic,) = dec.decode(av.Packet(key.payload))
    assert pic.color_range == 2  # JPEG / full range
    white = np.zeros((480, 640, 4), np.uint8) + 255
    enc2 = ENCODERS["h264"](640, 480, {})
    (k2,) = enc2.encode(white, [], full=True)
    (p2,) = av.CodecContext.create("h264", "r").decode(av.Packet(k2.payload))
    assert int(np.median(p2.to_ndarray(format="yuv420p")[:480])) >= 253  # Y of white: 255, not 235
    frames, now = [], 10.0
    while now < 20:
        now += 0.1
        frames += enc.idle(screen, now)
    canvas = np.zeros_like(screen)
    for f in frames:
        assert f.fields["codec"] == "planar" and f.fields.get("touchup")
        off = 0
        for x, y, w, h, n in f.fields["rects"]:
            # decode_planar reads bitmap-update order (bottom-up): flip back
            canvas[y:y + h, x:x + w] = decode_planar(f.payload[off:off + n], w, h)[::-1]
            off += n
    assert np.array_equal(canvas[:, :, :3], screen[:, :, :3])
    with pytest.raises(ValueError, match="colour"):
        ENCODERS["h264"](64, 64, {"colour": "srgb"})
