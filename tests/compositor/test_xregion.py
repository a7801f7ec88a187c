"""The damage read of every frame (``xregion.DamageReader``: requests packed once, the reply
read with one struct call) against python-xlib's own requests, on a real Xvfb."""

from __future__ import annotations

import os

from Xlib import X
from Xlib.ext import damage as xdamage

from compositor import xregion
from tests.compositor.helpers import x_display


def test_packed_damage_read_equals_python_xlib(xvfb):
    d = x_display(dict(os.environ, **xvfb.env()))
    try:
        d.damage_query_version()
        d.xfixes_query_version()
        root = d.screen().root
        gc = root.create_gc(foreground=d.screen().white_pixel)
        damage = root.damage_create(xdamage.DamageReportNonEmpty)
        region = xregion.create_region(d)
        reader = xregion.DamageReader(d, damage, region)
        d.sync()
        assert reader.read() == [(0, 0, 800, 600)]  # a new damage object starts with all of it
        drawings = [
            [(10, 20, 30, 40)],
            [(10, 20, 30, 40), (200, 100, 5, 6), (700, 500, 100, 100)],  # the last one at the corner
            [(x, y, 3, 2) for x in range(0, 800, 40) for y in range(0, 600, 50)],  # 240 rectangles
        ]
        for rects in drawings:
            for x, y, w, h in rects:
                root.fill_rectangle(gc, x, y, w, h)
            d.sync()
            packed = reader.read()
            assert sorted(packed) == sorted(rects)
            assert reader.read() == []  # the damage was moved out: nothing left
            for x, y, w, h in rects:
                root.fill_rectangle(gc, x, y, w, h)
            d.sync()
            d.damage_subtract(damage, X.NONE, region)
            assert xregion.fetch_region(d, region) == packed
    finally:
        d.close()
