"""The graphics pipeline with several monitors: one surface per monitor, mapped at its origin,
fed by Surface To Surface copies from the surface the session is drawn into.

A small model of a client (``ModelClient``: surfaces as numpy arrays, the output as the mapped
surfaces at their origins, bounds checked as FreeRDP checks them) takes what ``GfxOutput``
sends for host frames (Planar images as the session host encodes them, scroll copies), and
what each monitor shows must be the session's picture there."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor import messages
from compositor.encoders.lossless import encode_images
from compositor.encoders.planar import decode_planar
from rdpfront import events, gfx
from rdpfront.channels.graphics import MAX_COPY_RECTS, MonitorSurface, monitor_copies
from rdpfront.cursor import Reader
from rdpfront.gfx_output import GfxOutput

from .helpers import MemoryClient, gfx_pdus, graphics_open

STREAM = 5
# A small layout of the shape the end-to-end test uses: a wide monitor at 0,0 and a shorter
# primary right of it, so the session's box has a gap below the second.
LEFT = (0, 0, 64, 48)
RIGHT = (64, 0, 40, 32)
SIZE = (104, 48)
GFX_BATCH_MAX = 8


def _defs(*monitors: tuple[int, int, int, int], primary: int = 1) -> list[tuple[int, int, int, int, int]]:
    return [(x, y, x + w - 1, y + h - 1, int(i == primary)) for i, (x, y, w, h) in enumerate(monitors)]


class ModelClient:
    """What a client does with the graphics pipeline's surface PDUs."""

    def __init__(self) -> None:
        self.surfaces: dict[int, np.ndarray] = {}
        self.mapped: dict[int, tuple[int, int]] = {}
        self.size = (0, 0)

    def apply(self, pdus: list[gfx.ServerPdu]) -> None:
        for pdu in pdus:
            r = Reader(pdu.body)
            if pdu.cmd == gfx.Cmd.RESET_GRAPHICS:
                self.size = (r.u32("w"), r.u32("h"))
            elif pdu.cmd == gfx.Cmd.CREATE_SURFACE:
                sid, w, h = r.u16("id"), r.u16("w"), r.u16("h")
                assert sid not in self.surfaces
                self.surfaces[sid] = np.zeros((h, w, 4), np.uint8)
            elif pdu.cmd == gfx.Cmd.DELETE_SURFACE:
                sid = r.u16("id")
                del self.surfaces[sid]
                self.mapped.pop(sid, None)
            elif pdu.cmd == gfx.Cmd.MAP_SURFACE_TO_OUTPUT:
                sid, _ = r.u16("id"), r.u16("reserved")
                assert sid in self.surfaces
                self.mapped[sid] = (r.u32("x"), r.u32("y"))
            elif pdu.cmd == gfx.Cmd.WIRE_TO_SURFACE_1:
                sid, codec, _ = r.u16("id"), r.u16("codec"), r.u8("format")
                left, top, right, bottom = (r.u16("rect") for _ in range(4))
                data = r.read(r.u32("length"), "data")
                assert codec == gfx.Codec.PLANAR
                surface = self.surfaces[sid]
                assert right <= surface.shape[1] and bottom <= surface.shape[0]
                surface[top:bottom, left:right] = decode_planar(data, right - left, bottom - top)[::-1]
            elif pdu.cmd == gfx.Cmd.SURFACE_TO_SURFACE:
                src, dst = self.surfaces[r.u16("src")], self.surfaces[r.u16("dst")]
                left, top, right, bottom = (r.u16("rect") for _ in range(4))
                assert 0 <= left < right <= src.shape[1] and 0 <= top < bottom <= src.shape[0]
                block = src[top:bottom, left:right].copy()
                for _ in range(r.u16("count")):
                    x, y = r.u16("x"), r.u16("y")
                    assert x + right - left <= dst.shape[1] and y + bottom - top <= dst.shape[0]
                    dst[y:y + bottom - top, x:x + right - left] = block

    def output(self) -> np.ndarray:
        """The client's display: the mapped surfaces at their origins."""
        out = np.zeros((self.size[1], self.size[0], 4), np.uint8)
        for sid, (x, y) in self.mapped.items():
            s = self.surfaces[sid]
            out[y:y + s.shape[0], x:x + s.shape[1]] = s[:self.size[1] - y, :self.size[0] - x]
        return out


def _open(monitors=(LEFT, RIGHT)) -> tuple[MemoryClient, GfxOutput, ModelClient]:
    client = graphics_open()
    gfx_pdus(client, client.pump())
    client.server.events()
    output = GfxOutput(client.server, [])
    output.choose(events.GfxReady(gfx.CapVersion.V81, True))
    output.subscribed(messages.SubscribeReply(stream=STREAM, width=SIZE[0], height=SIZE[1]))
    model = ModelClient()
    model.apply(gfx_pdus(client, client.pump(output.reset(*SIZE, _defs(*monitors) if len(monitors) > 1 else ()))))
    output.need_key = False  # these tests draw with lossless images and copies only
    return client, output, model


def _send(client: MemoryClient, output: GfxOutput, model: ModelClient, frames: list[messages.Frame]) -> None:
    for frame in frames:
        output.push(frame)
    while (data := output.next_frame(True)) is not None:
        model.apply(gfx_pdus(client, client.pump(data)))


def _image(seq: int, screen: np.ndarray, rect: tuple[int, int, int, int]) -> messages.Frame:
    (data,) = encode_images("planar", screen, [rect])
    return messages.Frame(stream=STREAM, seq=seq, codec="planar", rects=((*rect, len(data)),), payload=data)


def _copy(seq: int, x: int, y: int, w: int, h: int, sx: int, sy: int) -> messages.Frame:
    return messages.Frame(stream=STREAM, seq=seq, codec="copy", rects=((x, y, w, h, sx, sy),))


def _shown_per_monitor(model: ModelClient, screen: np.ndarray, monitors=(LEFT, RIGHT)) -> list[bool]:
    out = model.output()
    return [bool(np.array_equal(out[y:y + h, x:x + w, :3], screen[y:y + h, x:x + w, :3]))
            for x, y, w, h in monitors]


def test_one_surface_per_monitor_mapped_at_its_origin() -> None:
    client, output, model = _open()
    graphics = client.server._graphics()
    session = client.server.gfx_surface
    assert client.server.gfx_per_monitor
    # The session's surface spans the output and is not mapped; each monitor's is mapped at its
    # origin, of its size.
    assert model.surfaces[session].shape[:2] == (SIZE[1], SIZE[0]) and session not in model.mapped
    assert graphics.mapped == [(s, x, y, w, h) for s, (x, y, w, h) in zip((2, 3), (LEFT, RIGHT), strict=True)]
    assert {sid: (model.surfaces[sid].shape[1], model.surfaces[sid].shape[0], *origin)
            for sid, origin in model.mapped.items()} == {2: (64, 48, 0, 0), 3: (40, 32, 64, 0)}
    # Back to one monitor: every surface deleted, one mapped at 0,0, no copies.
    pdus = gfx_pdus(client, client.pump(output.reset(*SIZE)))
    assert [p.cmd for p in pdus][:3] == [gfx.Cmd.DELETE_SURFACE] * 3
    model.apply(pdus)
    output.need_key = False
    assert list(model.mapped.values()) == [(0, 0)] and not client.server.gfx_per_monitor
    screen = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)
    screen[10:20, 50:80] = (1, 2, 3, 0)
    output.push(_image(1, screen, (50, 10, 30, 10)))
    cmds = [p.cmd for p in gfx_pdus(client, client.pump(output.next_frame(True)))]
    assert cmds == [gfx.Cmd.START_FRAME, gfx.Cmd.WIRE_TO_SURFACE_1, gfx.Cmd.END_FRAME]


def test_an_area_across_two_monitors_is_copied_to_each_in_its_own_coordinates() -> None:
    monitors = [MonitorSurface(2, 0, 0, 64, 48), MonitorSurface(3, 64, 0, 40, 32)]
    # 50..80 x 20..40 crosses the edge at x=64, and below y=32 lies over the gap on the right.
    copies = [gfx.split_server(c)[0].body for c in monitor_copies(1, monitors, [(50, 20, 80, 40)])]
    assert copies == [gfx.surface_to_surface(1, (50, 20, 64, 40), [(50, 20)], 2)[8:],
                      gfx.surface_to_surface(1, (64, 20, 80, 32), [(0, 20)], 3)[8:]]
    assert monitor_copies(1, monitors, [(70, 35, 100, 48)]) == []  # all in the gap
    many = [(x, 0, x + 1, 1) for x in range(MAX_COPY_RECTS + 1)]
    assert len(monitor_copies(1, monitors, many)) == 2  # their bounding box, once per monitor


def test_drawing_and_scrolling_across_the_monitors_shows_the_session() -> None:
    client, output, model = _open()
    rng = np.random.default_rng(1)
    screen = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)
    screen[..., :3] = rng.integers(0, 255, (SIZE[1], SIZE[0], 3))
    _send(client, output, model, [_image(1, screen, (0, 0, *SIZE))])
    assert _shown_per_monitor(model, screen) == [True, True]
    # A scroll of a band across both monitors (and the gap): up by 5 rows, the exposed rows drawn.
    before = screen.copy()
    screen[2:40, 30:100] = before[7:45, 30:100]
    screen[40:45, 30:100, :3] = rng.integers(0, 255, (5, 70, 3))
    _send(client, output, model, [_copy(2, 30, 2, 70, 38, 30, 7), _image(3, screen, (30, 40, 70, 5))])
    assert _shown_per_monitor(model, screen) == [True, True]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, SIZE[0] - 1), st.integers(0, SIZE[1] - 1),
                          st.integers(1, SIZE[0]), st.integers(1, SIZE[1]), st.integers(-20, 20),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=8),
       st.integers(1, GFX_BATCH_MAX))
def test_any_drawing_and_copies_keep_every_monitor_equal_to_the_session(ops, batch) -> None:
    """Images and copies anywhere (across monitors, from and onto the gap), sent in batches:
    every monitor's surface shows the session's pixels there after each graphics frame."""
    client, output, model = _open()
    screen = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)
    frames: list[messages.Frame] = []
    for seq, (is_copy, x, y, w, h, dy, colour) in enumerate(ops, 1):
        w, h = min(w, SIZE[0] - x), min(h, SIZE[1] - y)
        if is_copy:
            sy = min(max(0, y + dy), SIZE[1] - h)
            screen[y:y + h, x:x + w] = screen[sy:sy + h, x:x + w].copy()
            frames.append(_copy(seq, x, y, w, h, x, sy))
        else:
            screen[y:y + h, x:x + w, :3] = np.frombuffer(colour.to_bytes(4, "little")[:3], np.uint8)
            screen[y + h // 2:y + h, x:x + w, 0] ^= 0x55  # not one flat colour
            frames.append(_image(seq, screen, (x, y, w, h)))
        if len(frames) == batch:
            _send(client, output, model, frames)
            frames = []
            assert _shown_per_monitor(model, screen) == [True, True]
    _send(client, output, model, frames)
    assert _shown_per_monitor(model, screen) == [True, True]


@pytest.mark.parametrize("avc420", [True, False])
def test_a_single_monitor_session_gets_one_surface_and_no_copies(avc420: bool) -> None:
    client = graphics_open()
    gfx_pdus(client, client.pump())
    client.server.events()
    output = GfxOutput(client.server, [])
    output.choose(events.GfxReady(gfx.CapVersion.V81, avc420))
    pdus = gfx_pdus(client, client.pump(output.reset(800, 600)))
    assert [p.cmd for p in pdus] == [gfx.Cmd.RESET_GRAPHICS, gfx.Cmd.CREATE_SURFACE, gfx.Cmd.MAP_SURFACE_TO_OUTPUT]
    assert client.server._graphics().mapped == [(1, 0, 0, 800, 600)]


def test_surface_to_surface_between_two_surfaces_wire_bytes() -> None:
    """[MS-RDPEGFX 2.2.2.5] surfaceIdSrc, surfaceIdDest, rectSrc (right/bottom exclusive),
    destPtsCount, destPts."""
    data = gfx.surface_to_surface(1, (50, 20, 64, 40), [(50, 20)], 2)
    assert data == bytes.fromhex("0500" "0000" "1a000000" "0100" "0200" "3200" "1400" "4000" "2800" "0100"
                                 "3200" "1400")
