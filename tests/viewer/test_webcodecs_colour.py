"""The shared H.264 stream's colours as Chromium shows them: full-range BT.709 (what RDP
requires, signalled in the stream's VUI) decoded by WebCodecs and drawn on a 2D canvas, as
the viewer does, comes out as the session's pixels (only H.264's loss apart), and the padded
coded size (no SPS cropping) changes nothing within the visible area."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from compositor.encoders import ENCODERS, load_builtin_encoders
from tests.compositor.encoders.conftest import psnr

load_builtin_encoders()
CHROMIUM = "/usr/bin/chromium"

DECODE_AND_DRAW = """async ({data, width, height}) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  const frame = await new Promise((resolve, reject) => {
    const decoder = new VideoDecoder({output: resolve, error: reject});
    decoder.configure({codec: "avc1.42E033", optimizeForLatency: true});
    decoder.decode(new EncodedVideoChunk({type: "key", timestamp: 0, data: bytes}));
    decoder.flush().catch(reject);
  });
  const coded = [frame.codedWidth, frame.codedHeight];
  ctx.drawImage(frame, 0, 0, width, height, 0, 0, width, height);
  frame.close();
  return {coded, pixels: Array.from(ctx.getImageData(0, 0, width, height).data)};
}"""


def test_full_range_bt709_stream_shows_true_colours_in_chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    from harness import launch_chromium
    from playwright.sync_api import sync_playwright

    width, height = 200, 120  # not a multiple of 16: the coded picture is padded
    screen = np.zeros((height, width, 4), np.uint8)
    screen[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]  # blue ramp
    screen[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]  # green ramp
    screen[:40, :50, :3] = 255  # white
    screen[:40, 50:100, :3] = 0  # black
    screen[:40, 100:150, :3] = (0, 0, 255)  # red (BGRX)
    (key,) = ENCODERS["h264"](width, height, {"qp": 12}).encode(screen, [], full=True)
    assert key.fields["coded"] == [208, 128]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            # WebCodecs needs a secure context: a page of http://localhost, served by the route.
            page.route("http://localhost/**", lambda route: route.fulfill(
                body="<html><body></body></html>", content_type="text/html"))
            page.goto("http://localhost/")
            out = page.evaluate(DECODE_AND_DRAW, {"data": base64.b64encode(key.payload).decode(),
                                                  "width": width, "height": height})
        finally:
            browser.close()
    shown = np.array(out["pixels"], np.uint8).reshape(height, width, 4)[..., :3]  # RGBA
    expected = screen[..., 2::-1]  # BGRX -> RGB
    # Limited range or the wrong matrix shows white as ~235 and shifts colours by 10-20 levels.
    assert np.abs(shown[5:35, 5:45].astype(int) - 255).max() <= 3, "white is not white"
    assert shown[5:35, 55:95].max() <= 3, "black is not black"
    assert psnr(shown, expected) > 38
