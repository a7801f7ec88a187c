"""Capture of an attached display: MIT-SHM against XGetImage on a real Xvfb. (The fallback
to XGetImage is tested through the host, in its own process: python-xlib's event tables are
shared by every Display of a process and break on a second server with other extensions.)"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from compositor.framebuffer import ShmFramebuffer, XGetImageFramebuffer, row_bands
from tests.compositor.helpers import x_display


@pytest.mark.parametrize(("rects", "bands"), [
    ([], []),
    ([(5, 10, 20, 5)], [(10, 15)]),
    ([(0, 80, 10, 10), (50, 0, 10, 10)], [(0, 10), (80, 90)]),
    ([(0, 0, 10, 10), (0, 20, 10, 10)], [(0, 30)]),  # 10 rows apart: one request
    ([(0, -5, 10, 10), (0, 95, 10, 20)], [(0, 5), (95, 100)]),  # clipped to the screen
    ([(0, 10, 0, 10), (0, 10, 10, 0)], []),  # empty rectangles
])
def test_row_bands(rects, bands):
    assert row_bands(rects, 100) == bands


def test_shm_capture_matches_xgetimage_and_follows_damage(xvfb):
    env = dict(os.environ, **xvfb.env())
    subprocess.run(["xsetroot", "-solid", "#3366cc"], env=env, check=True)
    d = x_display(env)
    shm = ShmFramebuffer(d, 800, 600)
    slow = XGetImageFramebuffer(d, 800, 600)
    try:
        assert shm.capture == "mit-shm"
        assert np.array_equal(shm.screen(), slow.screen())
        assert tuple(shm.screen()[300, 400]) == (0xCC, 0x66, 0x33, 0)  # BGRX
        subprocess.run(["xsetroot", "-solid", "#cc3300"], env=env, check=True)
        shm.refresh([(0, 290, 10, 20)])  # only those rows are fetched again
        assert tuple(shm.screen()[300, 400]) == (0x00, 0x33, 0xCC, 0)
        assert tuple(shm.screen()[100, 400]) == (0xCC, 0x66, 0x33, 0)
        shm.set_visible_size(640, 480)  # a smaller screen: rows of the new width, all fetched
        assert shm.screen().shape == (480, 640, 4)
        assert tuple(shm.screen()[100, 400]) == (0x00, 0x33, 0xCC, 0)
    finally:
        shm.close()
        d.close()

