"""``indexed``: a few-colour image as a palette and bit-packed indices, left uncompressed for
the transport's deflate (the browser viewer's permessage-deflate, context kept across messages).

A scrolling terminal's new rows are text in two colours. As indices at one bit a pixel, rows
padded to whole bytes, the bytes of one glyph row recur wherever the same glyphs recur at the
same bit offset, in this message and in the previous 32 KiB the socket sent; deflate codes
those as back-references. On peerbench's scroll scene (an xterm printing 200 lines a second)
the exposed rows cost ~15 KiB/s on the compressed socket this way, against ~68 KiB/s as WebP
lossless (method 0) and ~27 KiB/s as ``prle`` (docs/performance.md, *Browser scrolling*).
Without a compressed socket it is 8-32x larger than WebP: only viewers on a compressed socket
take it (the ``webz`` image variant, ``lossless.IMAGE_CODECS``).

Layout of one rectangle: ``u8 n-1``; ``n`` palette entries as B, G, R bytes; then the ``w x h``
indices in row-major order at ``bits`` = 1 (n <= 2), 2 (n <= 4) or 4 (n <= 16) bits each, the
first pixel in the most significant bits of a byte, every row starting on a new byte.
"""

from __future__ import annotations

import numpy as np

MAX_COLOURS = 16  # past this the indices take a byte a pixel and WebP codes text better


def bits_for(colours: int) -> int:
    """Bits per index for a palette of ``colours`` (1..MAX_COLOURS) entries."""
    if not 1 <= colours <= MAX_COLOURS:
        raise ValueError(f"indexed takes 1..{MAX_COLOURS} colours, not {colours}")
    return 1 if colours <= 2 else 2 if colours <= 4 else 4


SAMPLE_SIDE = 64  # a large block is first judged by a grid of 64 x 64 of its pixels


def indexed(block: np.ndarray) -> bytes | None:
    """``indexed`` coding of one (h, w, 4) BGRX block, or None past ``MAX_COLOURS`` colours.

    A large block is first judged by a grid of its pixels: more colours there than
    ``MAX_COLOURS`` means more in the block, and a picture or a video frame is turned down in
    ~0.2 ms instead of the ~90 ms a sort of 720p's colours takes."""
    h, w = block.shape[:2]
    if h * w > 4 * SAMPLE_SIDE * SAMPLE_SIDE:
        grid = np.ascontiguousarray(block[::max(1, h // SAMPLE_SIDE), ::max(1, w // SAMPLE_SIDE)])
        if len(np.unique(grid.view(np.uint32) & np.uint32(0x00FFFFFF))) > MAX_COLOURS:
            return None
    pixels = np.ascontiguousarray(block).view(np.uint32).reshape(h, w) & np.uint32(0x00FFFFFF)
    two = _two_colours(pixels)
    if two is not None:  # text: a few passes instead of a sort (~0.5 against ~7 ms for 720x520)
        palette, index = two
    else:
        palette, index = np.unique(pixels, return_inverse=True)
        if len(palette) > MAX_COLOURS:
            return None
        index = index.reshape(h, w).astype(np.uint8)
    bits = bits_for(len(palette))
    if bits == 1:
        body = np.packbits(index, axis=1)
    else:
        per = 8 // bits
        padded = np.zeros((h, -(-w // per) * per), np.uint8)
        padded[:, :w] = index
        groups = padded.reshape(h, -1, per)
        body = np.zeros(groups.shape[:2], np.uint8)
        for i in range(per):
            body |= groups[..., i] << np.uint8(8 - bits * (i + 1))
    pal = palette.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
    return bytes([len(palette) - 1]) + pal.tobytes() + body.tobytes()


def _two_colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Palette and indices of an (h, w) block of at most two colours, else None."""
    flat = pixels.reshape(-1)
    if flat.size == 0:
        return None
    other = pixels != flat[0]
    if not other.any():
        return flat[:1], np.zeros(pixels.shape, np.uint8)
    second = flat[int(np.argmax(other.reshape(-1)))]
    if np.count_nonzero(other) != np.count_nonzero(pixels == second):
        return None
    return np.array([flat[0], second], np.uint32), other.view(np.uint8)


def decode_indexed(data: bytes, width: int, height: int) -> np.ndarray:
    """Reference decoder: (h, w, 3) BGR pixels of one rectangle. Raises ValueError on data that
    is not exactly one rectangle of that size."""
    if not data:
        raise ValueError("indexed: empty")
    colours = data[0] + 1
    if colours > MAX_COLOURS:
        raise ValueError(f"indexed: {colours} colours")
    bits = bits_for(colours)
    stride = -(-width * bits // 8)
    start = 1 + 3 * colours
    if len(data) != start + stride * height:
        raise ValueError(f"indexed: {len(data)} bytes for {width}x{height} at {bits} bits")
    palette = np.frombuffer(data, np.uint8, 3 * colours, 1).reshape(colours, 3)
    rows = np.frombuffer(data, np.uint8, stride * height, start).reshape(height, stride)
    if bits == 1:
        index = np.unpackbits(rows, axis=1)[:, :width]
    else:
        per = 8 // bits
        shifts = np.array([8 - bits * (i + 1) for i in range(per)], np.uint8)
        index = ((rows[..., None] >> shifts) & np.uint8((1 << bits) - 1)).reshape(height, -1)[:, :width]
    if index.size and int(index.max()) >= colours:
        raise ValueError("indexed: an index past the palette")
    return palette[index]
