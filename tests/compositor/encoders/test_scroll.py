"""Scrolling found in damage: copies that rebuild the screen exactly, and none where nothing moved."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor.encoders import ENCODERS, load_builtin_encoders, scroll
from compositor.encoders.scroll import MIN_ROWS, ScrollDetector, find_copies, find_shift

load_builtin_encoders()


def text_screen(width: int, height: int, lines: list[int], *, line_height: int = 13, seed: int = 0) -> np.ndarray:
    """A terminal-like screen: each text line a row of glyph-like blocks chosen by its number."""
    screen = np.zeros((height, width, 4), np.uint8)
    for row, number in enumerate(lines):
        rng = np.random.default_rng(abs(number) * 7919 + seed)
        glyphs = rng.integers(0, 2, size=(line_height - 3, width // 3), dtype=np.uint8) * 220
        y = row * line_height
        if y + line_height > height:
            break
        screen[y + 1:y + line_height - 2, : glyphs.shape[1] * 3, :3] = np.repeat(glyphs, 3, axis=1)[..., None]
    return screen


def replayed(before: np.ndarray, screen: np.ndarray, rects: list) -> np.ndarray:
    """What a front end shows after the detector's copies and the rest's pixels over ``before``."""
    detector = ScrollDetector(before.shape[1], before.shape[0])
    detector.sent(before, [], full=True)
    copies, rest = detector.find(screen, rects)
    canvas = before.copy()
    for c in copies:
        apply_copy(canvas, [c.x, c.y, c.w, c.h, c.sx, c.sy])
    for rx, ry, rw, rh in rest:
        canvas[ry:ry + rh, rx:rx + rw] = screen[ry:ry + rh, rx:rx + rw]
    return canvas


def apply_copy(canvas: np.ndarray, rect: list[int]) -> None:
    x, y, w, h, sx, sy = rect
    canvas[y:y + h, x:x + w] = canvas[sy:sy + h, sx:sx + w].copy()


def test_lines_scrolled_up_are_one_copy_and_the_new_lines_the_rest():
    before = text_screen(400, 260, list(range(20)))
    after = text_screen(400, 260, list(range(3, 23)))  # three new lines at the bottom
    detector = ScrollDetector(400, 260)
    detector.sent(before, [], full=True)
    copies, rest = detector.find(after, [(0, 0, 400, 260)])
    assert len(copies) == 1
    c = copies[0]
    assert (c.x, c.w, c.sx) == (0, 400, 0)
    assert c.sy - c.y == 39  # three 13-pixel lines
    assert c.h >= 260 - 39 - 13
    assert all(r[1] >= c.y + c.h or r[1] + r[3] <= c.y for r in rest)  # the rest is outside the copy
    canvas = before.copy()
    apply_copy(canvas, [c.x, c.y, c.w, c.h, c.sx, c.sy])
    for x, y, w, h in rest:
        canvas[y:y + h, x:x + w] = after[y:y + h, x:x + w]
    assert np.array_equal(canvas, after)


def test_scrolling_down_is_found_too():
    before = text_screen(300, 200, list(range(10, 25)))
    after = text_screen(300, 200, list(range(8, 23)))  # two lines inserted at the top
    shift = find_shift(before, after)
    assert shift is not None
    dy, start, end = shift
    assert dy == -26 and end - start >= MIN_ROWS
    assert np.array_equal(after[start:end], before[start + dy:end + dy])


def test_no_copy_when_nothing_moved_or_content_is_new():
    a = text_screen(300, 200, list(range(15)))
    assert find_shift(a, a) is None  # unchanged rows: nothing moved
    b = text_screen(300, 200, list(range(100, 115)))
    assert find_shift(a, b) is None
    blank = np.zeros((200, 300, 4), np.uint8)
    assert find_shift(blank, blank) is None  # every row alike: no unambiguous shift


def test_small_or_narrow_damage_is_not_searched():
    detector = ScrollDetector(400, 300)
    screen = text_screen(400, 300, list(range(20)))
    detector.sent(screen, [], full=True)
    rects = [(0, 0, 40, 300), (0, 0, 400, 20)]
    assert detector.find(text_screen(400, 300, list(range(2, 22))), rects) == ([], rects)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 30), st.integers(-6, 6), st.integers(0, 40), st.integers(1, 60))
def test_copies_and_rest_always_rebuild_the_screen(first, delta, top, height):
    """Whatever the shift and the damaged band: copy + the rest's pixels give the new screen."""
    before = text_screen(240, 220, list(range(first, first + 17)), line_height=13)
    after = text_screen(240, 220, list(range(first + delta, first + delta + 17)), line_height=13)
    band = (0, min(top, 219), 240, max(1, min(height * 4, 220 - min(top, 219))))
    x, y, w, h = band
    # Only the band changed on the real screen.
    screen = before.copy()
    screen[y:y + h, x:x + w] = after[y:y + h, x:x + w]
    assert np.array_equal(replayed(before, screen, [band]), screen)


def test_a_capture_taken_mid_scroll_is_copies_of_each_band():
    """The upper lines moved by two, the lower ones by one (the program was still scrolling):
    a copy for each band, in an order that leaves each reading what it should, and only the
    new line left to encode."""
    before = text_screen(640, 480, list(range(36)))
    after = text_screen(640, 480, [*range(2, 22), *range(21, 37)])
    copies, rest = find_copies(before, after, [(0, 0, 640, 480)])
    assert len(copies) == 2 and {c.sy - c.y for c in copies} == {26, 13}
    assert sum(h for _, _, _, h in rest) <= 2 * 13
    assert np.array_equal(replayed(before, after, [(0, 0, 640, 480)]), after)
    # Scrolled down in two steps the other way round: the same, in the other order.
    down = text_screen(640, 480, [*range(-2, 18), *range(19, 35)])
    copies, _ = find_copies(before, down, [(0, 0, 640, 480)])
    assert [c.sy - c.y for c in copies] == [-26, -13] or [c.sy - c.y for c in copies] == [-13, -26]
    assert np.array_equal(replayed(before, down, [(0, 0, 640, 480)]), down)


def test_h264_stream_sends_a_copy_then_only_the_new_rows():
    before = text_screen(640, 480, list(range(36)))
    after = text_screen(640, 480, list(range(4, 40)))
    enc = ENCODERS["h264"](640, 480, {})  # copies are on by default
    (key,) = enc.encode(before, [], full=True)
    assert key.fields["key"] is True
    frames = enc.encode(after, [(0, 0, 640, 480)], full=False)
    assert frames[0].fields["codec"] == "copy" and frames[0].payload == b""
    (x, y, w, h, sx, sy), = frames[0].fields["rects"]
    assert sy - y == 52 and w == 640
    rest = frames[1].fields["rects"]
    assert sum(r[2] * r[3] for r in rest) <= 640 * (480 - h)  # only what the copy does not cover
    # Unchanged afterwards: no frame; the same scroll again: found against what was sent.
    assert enc.encode(after, [], full=False) == []
    again = enc.encode(text_screen(640, 480, list(range(8, 44))), [(0, 0, 640, 480)], full=False)
    assert again[0].fields["codec"] == "copy"


def test_compressed_browsers_take_the_copy_in_the_frame_of_the_new_rows():
    """Variant ``webz``: one frame per scrolled update, its header carrying the copies; the
    other variants still get a ``copy`` frame first. Painted as the viewer does (copies, then
    the rows), each ends on the new screen exactly."""
    from compositor.encoders.indexed import decode_indexed

    before = text_screen(640, 480, list(range(36)))
    after = text_screen(640, 480, list(range(4, 40)))
    enc = ENCODERS["h264"](640, 480, {})
    enc.set_variants({"webz", "web"})
    enc.encode(before, [], full=True)
    frames = enc.encode(after, [(0, 0, 640, 480)], full=False)
    by_variant = {}
    for frame in frames:
        by_variant.setdefault(frame.variant, []).append(frame)
    assert [f.fields["codec"] for f in by_variant["web"]] == ["copy", "webp"]
    (rows,) = by_variant["webz"]
    assert rows.fields["codec"] == "indexed" and rows.fields["copy"] == by_variant["web"][0].fields["rects"]
    canvas = before.copy()
    for rect in rows.fields["copy"]:
        apply_copy(canvas, rect)
    offset = 0
    for x, y, w, h, n in rows.fields["rects"]:
        canvas[y:y + h, x:x + w, :3] = decode_indexed(rows.payload[offset:offset + n], w, h)
        offset += n
    assert np.array_equal(canvas[..., :3], after[..., :3])
    # Only compressed browsers on the stream: no copy frame at all.
    enc.set_variants({"webz"})
    frames = enc.encode(text_screen(640, 480, list(range(8, 44))), [(0, 0, 640, 480)], full=False)
    assert [(f.fields["codec"], "copy" in f.fields) for f in frames] == [("indexed", True)]


def test_without_the_option_there_are_no_copies():
    before = text_screen(640, 480, list(range(36)))
    enc = ENCODERS["h264"](640, 480, {"copy": False})
    enc.encode(before, [], full=True)
    frames = enc.encode(text_screen(640, 480, list(range(4, 40))), [(0, 0, 640, 480)], full=False)
    assert all(f.fields["codec"] != "copy" for f in frames)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 30), st.integers(-6, 6),
       st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200), st.integers(1, 240), st.integers(1, 220)),
                min_size=1, max_size=4))
def test_copies_of_overlapping_damage_run_one_after_the_other(first, delta, damage):
    """Damage rectangles that overlap (X reports a window and the line inside it): the copies,
    run in order as a client does, and the rest still give the new screen."""
    before = text_screen(240, 220, list(range(first, first + 17)), line_height=13)
    after = text_screen(240, 220, list(range(first + delta, first + delta + 17)), line_height=13)
    screen = before.copy()
    rects = []
    for x, y, w, h in damage:
        w, h = min(w, 240 - x), min(h, 220 - y)
        screen[y:y + h, x:x + w] = after[y:y + h, x:x + w]
        rects.append((x, y, w, h))
    assert np.array_equal(replayed(before, screen, rects), screen)


def test_rows_alike_at_the_sampled_pixels_do_not_fool_it():
    """Rows are hashed from every SAMPLE_STEP-th pixel first: rows that differ only between
    those samples may vote for a wrong band; the pixel check catches it and whole rows decide."""
    from compositor.encoders.scroll import SAMPLE_STEP

    before = text_screen(400, 200, list(range(15)))
    after = text_screen(400, 200, list(range(2, 17)))
    # A row of ``after`` whose sampled pixels equal an unrelated row of ``before``.
    after[100, ::SAMPLE_STEP] = before[40, ::SAMPLE_STEP]
    after[100, 1::SAMPLE_STEP] = 77
    shift = find_shift(before, after)
    assert shift is not None
    dy, start, end = shift
    assert dy == 26
    assert np.array_equal(after[start:end], before[start + dy:end + dy])


def test_a_row_that_differs_between_the_samples_cuts_the_band_without_whole_row_hashes(monkeypatch):
    """A row inside the moved band that differs from its source only between the sampled
    pixels (a glyph cell narrower than the sampling step): the sampled hashes vote for the
    whole band, the pixel check cuts it at that row, and the longer part is the copy, exact,
    found without hashing whole rows (~2.5 ms a 720 x 520 terminal, where the cut costs a
    compare)."""
    from compositor.encoders import scroll

    before = text_screen(400, 260, list(range(20)))
    after = text_screen(400, 260, list(range(2, 22)))
    after[150, 1::scroll.SAMPLE_STEP] ^= 0x55  # only pixels the sampled hashes do not read
    steps = []
    real = scroll.row_hashes
    monkeypatch.setattr(scroll, "row_hashes", lambda block, step=1: steps.append(step) or real(block, step))
    shift = find_shift(before, after)
    assert shift == (26, 0, 150)  # rows 0-149 moved by two lines; 151-233 are the shorter part
    dy, start, end = shift
    assert np.array_equal(after[start:end], before[start + dy:end + dy])
    assert 1 not in steps


def test_the_next_search_of_the_same_rectangle_hashes_only_the_new_screen(monkeypatch):
    """A terminal scrolling frame after frame: its rectangle's rows as sent are the rows the
    last search hashed as the new screen, and are not hashed again."""
    from compositor.encoders import scroll

    calls = []
    real = scroll.row_hashes
    monkeypatch.setattr(scroll, "row_hashes", lambda block, step=1: calls.append(block.shape) or real(block, step))
    rect = (0, 0, 400, 260)
    detector = ScrollDetector(400, 260)
    detector.sent(text_screen(400, 260, list(range(20))), [], full=True)
    for frame in range(1, 4):
        screen = text_screen(400, 260, list(range(2 * frame, 2 * frame + 20)))
        calls.clear()
        copies, _ = detector.find(screen, [rect])
        assert [(c.sy - c.y) for c in copies] == [26]
        assert len(calls) == (2 if frame == 1 else 1)  # before and after, then after only
        detector.sent(screen, [rect])


frame_steps = st.lists(st.tuples(st.sampled_from(["searched", "edit", "other", "full"]), st.integers(-4, 4),
                                 st.sampled_from([(0, 0, 320, 260), (0, 52, 320, 156), (40, 0, 200, 260)])),
                       min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(frame_steps)
def test_hashes_carried_from_frame_to_frame_find_what_a_fresh_search_finds(steps):
    """Scrolled screens sent after a search, with an edit, as an update made without a search
    or as a whole frame, in any order: the detector, which carries row hashes from one search
    to the next, finds the same copies and leaves the same rest as a search that hashes
    everything again."""
    first = 100
    screen = text_screen(320, 260, list(range(first, first + 20)))
    detector = ScrollDetector(320, 260)
    detector.sent(screen, [], full=True)
    for i, (kind, delta, rect) in enumerate(steps):
        first += delta  # lines scrolled (or none) before every kind of update
        screen = text_screen(320, 260, list(range(first, first + 20)))
        if kind == "edit":
            x, y, w, h = rect
            screen[y + 20:y + 30, x + 10:x + 90, :3] = (i * 37) % 256
        if kind == "full":
            detector.sent(screen, [], full=True)
            continue
        if kind == "other":  # an update made without a search (a pure-H.264 viewer's)
            detector.sent(screen, [rect])
            continue
        expected = find_copies(np.array(detector._sent), screen, [rect])
        assert detector.find(screen, [rect]) == expected
        detector.sent(screen, [rect])


@settings(max_examples=80, deadline=None)
@given(st.integers(-4, 4), st.integers(-4, 4), st.integers(0, 36), st.integers(-3, 3))
def test_bands_moved_by_different_amounts_replay_exactly(first, second, split, third):
    """Any mix of up to three bands, each shifted by its own number of lines (a capture taken
    while a program scrolled in steps): the copies in their order, then the rest, give the new
    screen, whatever overlaps between sources and destinations."""
    before = text_screen(320, 480, list(range(100, 136)))
    lines = [100 + i + first for i in range(split)] + [100 + i + second for i in range(split, 36)]
    lines = [n + third if i >= 30 else n for i, n in enumerate(lines)]
    after = text_screen(320, 480, lines)
    assert np.array_equal(replayed(before, after, [(0, 0, 320, 480)]), after)


def torn(first: list[int], second: list[int], tear: int,
         size: tuple[int, int] = (240, 260)) -> np.ndarray:
    """A framebuffer read while the X server scrolled: rows above ``tear`` show ``first``, the
    rest ``second`` (the lines a little later)."""
    w, h = size
    screen = text_screen(w, h, first)
    screen[tear:] = text_screen(w, h, second)[tear:]
    return screen


def test_a_torn_read_of_a_scroll_is_two_copies_and_only_the_new_lines():
    """Upper rows scrolled by two lines, lower ones by five (read mid-scroll): two copies, the
    upper one first (its source is the lower one's destination), and only the new lines and the
    rows between the two shifts left to encode."""
    before = text_screen(240, 260, list(range(20)))
    screen = torn(list(range(2, 22)), list(range(5, 25)), tear=104)
    detector = ScrollDetector(240, 260)
    detector.sent(before, [], full=True)
    copies, rest = detector.find(screen, [(0, 0, 240, 260)])
    assert [c.sy - c.y for c in copies] == [26, 65]
    assert copies[0].y < copies[1].y
    assert sum(r[3] for r in rest) <= 5 * 13 + 13 + 13  # new lines, a line at the tear, the last
    assert np.array_equal(replayed(before, screen, [(0, 0, 240, 260)]), screen)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 30), st.integers(-6, 6), st.integers(-6, 6), st.integers(0, 259))
def test_copies_of_a_torn_read_rebuild_the_screen(first, delta, more, tear):
    """Whatever the two shifts (either way) and the row of the tear: the copies, run in order as
    a client does, and the rest give the screen as read."""
    lines = list(range(first, first + 20))
    screen = torn([n + delta for n in lines], [n + delta + more for n in lines], tear)
    before = text_screen(240, 260, lines)
    assert np.array_equal(replayed(before, screen, [(0, 0, 240, 260)]), screen)


def test_many_lines_a_scroll_exposed_go_as_planar_for_rdp_not_a_p_frame():
    """An update that came late: the copy leaves seven text lines (past COPY_REST_SMALL pixels),
    which Planar codes at more than PLANAR_MAX_BYTES_PER_PIXEL. Still Planar for an RDP viewer
    (its cost grows with the rows; a P-frame costs a whole picture), exact, and no touch-up due."""
    from compositor.encoders.h264 import COPY_REST_SMALL
    from compositor.encoders.planar import decode_planar

    before = text_screen(720, 520, list(range(40)))
    after = text_screen(720, 520, list(range(7, 47)))
    enc = ENCODERS["h264"](720, 520, {})
    enc.set_variants({"planar"})
    enc.encode(before, [], full=True)
    copy, *rest = enc.encode(after, [(0, 0, 720, 520)], full=False)
    assert copy.fields["codec"] == "copy"
    assert [f.fields["codec"] for f in rest] == ["planar"]
    rects = rest[0].fields["rects"]
    assert sum(w * h for _, _, w, h, _ in rects) > COPY_REST_SMALL
    canvas = before.copy()
    apply_copy(canvas, copy.fields["rects"][0])
    offset = 0
    for x, y, w, h, n in rects:
        canvas[y:y + h, x:x + w, :3] = decode_planar(rest[0].payload[offset:offset + n], w, h)[::-1][..., :3]
        offset += n
    assert np.array_equal(canvas[..., :3], after[..., :3])
    assert enc.idle(after, 10.0) == []


def panned(width: int, height: int, offset: int, seed: int = 1) -> np.ndarray:
    """A wide picture (every column unlike the others) seen from ``offset`` columns in."""
    rng = np.random.default_rng(seed)
    wide = rng.integers(0, 256, (height, width * 2, 4), dtype=np.uint8)
    return np.ascontiguousarray(wide[:, offset:offset + width])


def test_content_moved_sideways_is_a_copy_and_only_the_new_columns():
    before = panned(400, 200, 40)
    after = panned(400, 200, 48)  # moved 8 px to the left
    after[:20] = 0  # a toolbar stripe that changed otherwise
    copies, rest = find_copies(before, after, [(0, 0, 400, 200)], horizontal=True)
    assert [(c.sx - c.x, c.sy - c.y) for c in copies] == [(8, 0)]
    assert copies[0].y == 64 and copies[0].w == 392
    assert sum(w * h for _, _, w, h in rest) == 400 * 64 + 8 * (200 - 64)
    assert find_copies(before, after, [(0, 0, 400, 200)]) == ([], [(0, 0, 400, 200)])  # only when asked


@settings(max_examples=60, deadline=None)
@given(st.integers(-40, 40), st.integers(0, 199), st.integers(1, 200), st.integers(0, 100))
def test_sideways_copies_and_rest_always_rebuild_the_screen(dx, top, height, first):
    before = panned(300, 200, 50 + first)
    screen = before.copy()
    rect = (0, top, 300, min(height, 200 - top))
    x, y, w, h = rect
    screen[y:y + h] = panned(300, 200, 50 + first + dx)[y:y + h]
    copies, rest = find_copies(before, screen, [rect], horizontal=True)
    canvas = before.copy()
    for c in copies:
        apply_copy(canvas, [c.x, c.y, c.w, c.h, c.sx, c.sy])
    for rx, ry, rw, rh in rest:
        canvas[ry:ry + rh, rx:rx + rw] = screen[ry:ry + rh, rx:rx + rw]
    assert np.array_equal(canvas, screen)


# -- the search's per-pixel steps in C (_scroll_rows) against the numpy reference -----------

def _require_native() -> None:
    assert scroll.NATIVE, "compositor/encoders/_scroll_rows.c is not built: run `make native`"


def _view(screen: np.ndarray, kind: str, y: int, x: int, h: int, w: int) -> np.ndarray:
    """A block of ``screen`` as the search gets one: a slice, or a slice's transpose (columns)."""
    block = screen[y:y + h, x:x + w]
    return block.transpose(1, 0, 2) if kind == "transposed" else block


blocks = st.builds(
    lambda seed, kind, y, x, h, w, colours: (seed, kind, y, x, h, w, colours),
    st.integers(0, 2**32 - 1), st.sampled_from(["slice", "transposed", "contiguous"]),
    st.integers(0, 40), st.integers(0, 40), st.integers(0, 60), st.integers(0, 90), st.sampled_from([2, 256]))


def _screen(seed: int, colours: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, colours, (100, 130, 4), dtype=np.uint8)


@settings(max_examples=300, deadline=None)
@given(block=blocks, step=st.integers(1, 9))
def test_native_row_hashes_equal_the_reference(block, step: int) -> None:
    _require_native()
    seed, kind, y, x, h, w, colours = block
    view = _view(_screen(seed, colours), kind, y, x, h, w)
    if kind == "contiguous":
        view = np.ascontiguousarray(view)
    native, reference = scroll.row_hashes(view, step, native=True), scroll.row_hashes(view, step, native=False)
    assert native.dtype == reference.dtype == np.uint64
    assert native.tolist() == reference.tolist()


def test_native_row_hashes_of_rows_wider_than_the_weights() -> None:
    _require_native()
    wide = np.random.default_rng(3).integers(0, 256, (4, len(scroll._WEIGHTS) + 700, 4), dtype=np.uint8)
    assert scroll.row_hashes(wide, native=True).tolist() == scroll.row_hashes(wide, native=False).tolist()
    assert scroll.row_hashes(wide, 3, native=True).tolist() == scroll.row_hashes(wide, 3, native=False).tolist()


@settings(max_examples=300, deadline=None)
@given(block=blocks, flips=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 89), st.integers(0, 3)), max_size=6),
       dy=st.integers(-20, 20))
def test_native_equal_run_equals_the_reference(block, flips, dy: int) -> None:
    _require_native()
    seed, kind, y, x, h, w, colours = block
    screen = _screen(seed, colours)
    before = _view(screen, kind, y, x, h, w)
    after = before.copy()
    for row, column, byte in flips:  # a few changed bytes, the unused fourth one included
        if row < after.shape[0] and column < after.shape[1]:
            after[row, column, byte] ^= 0x40
    rows = after.shape[0]
    start, end = max(0, -dy), min(rows, rows - dy)  # rows whose source start+dy.. lies in before
    if end <= start:
        return
    band = (dy, start, end)
    assert scroll._equal_run(before, after, band, native=True) == scroll._equal_run(before, after, band, native=False)


def test_native_steps_refuse_what_is_not_a_block_of_pixels() -> None:
    _require_native()
    from compositor.encoders import _scroll_rows

    block = np.zeros((4, 5, 4), np.uint8)
    out = np.empty(4, np.uint64)
    for bad in (np.zeros((4, 5, 3), np.uint8), np.zeros((4, 20), np.uint8), np.zeros((4, 5, 4), np.uint16),
                block[:, :, ::-1], b"0123"):
        with pytest.raises((ValueError, TypeError)):
            _scroll_rows.row_hashes(bad, 1, scroll._WEIGHTS, out)
        with pytest.raises((ValueError, TypeError)):
            _scroll_rows.equal_run(bad, block)
    with pytest.raises(ValueError, match="one value per row"):
        _scroll_rows.row_hashes(block, 1, scroll._WEIGHTS, np.empty(3, np.uint64))
    with pytest.raises(ValueError, match="at least 1"):
        _scroll_rows.row_hashes(block, 0, scroll._WEIGHTS, out)
    with pytest.raises(ValueError, match="64-bit"):
        _scroll_rows.row_hashes(block, 1, scroll._WEIGHTS, np.empty(4, np.uint8))
    with pytest.raises(TypeError):
        _scroll_rows.row_hashes(block, 1, scroll._WEIGHTS, b"\0" * 32)  # not writable
    with pytest.raises(ValueError, match="same shape"):
        _scroll_rows.equal_run(block, np.zeros((4, 6, 4), np.uint8))
    hashes = np.arange(40, dtype=np.uint64)
    with pytest.raises(ValueError, match="64-bit"):
        _scroll_rows.candidate_band(hashes, np.zeros(5, np.uint8), 0, scroll.MIN_ROWS)
    with pytest.raises(ValueError, match="negative"):
        _scroll_rows.candidate_band(hashes, hashes, -1, scroll.MIN_ROWS)
    with pytest.raises(ValueError, match="contiguous"):
        _scroll_rows.candidate_band(hashes[::2], hashes, 0, scroll.MIN_ROWS)


@st.composite
def row_votes(draw):
    """Row hashes before and after: rows after are, mostly, rows before moved by one shift (a
    few alphabet letters make repeated rows, which do not vote), and ``lo``, where they start."""
    alphabet = draw(st.sampled_from([3, 40, 400, 2**64 - 1, 2**64 - 1]))  # few letters: many repeated rows
    rows = draw(st.integers(0, 90))
    old = draw(st.lists(st.integers(0, alphabet), min_size=rows, max_size=rows))
    lo = draw(st.integers(0, 30))
    count = draw(st.integers(0, 90))
    dy = draw(st.integers(-25, 25))
    moved = draw(st.integers(0, 3).map(bool))  # 3 in 4 moved
    noise = draw(st.lists(st.integers(0, alphabet), min_size=count, max_size=count))
    keep = draw(st.lists(st.integers(0, 9).map(bool), min_size=count, max_size=count))  # 9 in 10 kept
    new = [old[r + dy] if moved and kept and 0 <= r + dy < len(old) else other
           for r, kept, other in zip(range(lo, lo + count), keep, noise, strict=True)]
    return np.array(old, np.uint64), np.array(new, np.uint64), lo


@settings(max_examples=500, deadline=None)
@given(votes=row_votes())
def test_native_candidate_band_equals_the_reference(votes) -> None:
    _require_native()
    old, new, lo = votes
    assert scroll._candidate_band(old, new, lo, native=True) == scroll._candidate_band(old, new, lo, native=False)


def test_native_candidate_band_of_a_scrolled_terminal() -> None:
    _require_native()
    before = text_screen(400, 260, list(range(20)))
    after = text_screen(400, 260, list(range(3, 23)))
    old, new = scroll.row_hashes(before), scroll.row_hashes(after)
    band = scroll._candidate_band(old, new, native=True)
    assert band == scroll._candidate_band(old, new, native=False)
    assert band is not None and band[0] == 39
    assert scroll._candidate_band(old, new[100:], 100, native=True) == \
        scroll._candidate_band(old, new[100:], 100, native=False)
