"""The clipboard's file and image formats: CLIPRDR_FILELIST / CLIPRDR_FILEDESCRIPTOR, File
Contents request and response ([MS-RDPECLIP] 2.2.5), and CF_DIB / CF_DIBV5 headers
(``rdpfront/dib.py``): vectors captured from Debian's xfreerdp 2.11, hand-made DIBs of every
accepted shape, and hypothesis properties."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdpfront import cliprdr, dib
from rdpfront.errors import RemoteProtocolError
from tests.rdpfront.test_clipboard_files_xfreerdp import gradient_image

from .vectors import load_hex

# -- vectors ------------------------------------------------------------------------------


def test_freerdp_file_list() -> None:
    """xfreerdp's list for a uri-list of two files: names without folders, sizes, FD flags."""
    data = load_hex("freerdp-2.11/16-cliprdr-file-list.hex")
    listing = cliprdr.FileList.decode(data)
    assert [(f.name, f.size, f.is_dir) for f in listing.files] == [("notes ü.txt", 2200, False),
                                                                  ("big.bin", 50 << 20, False)]
    flags = cliprdr.FileDescriptorFlags
    for f in listing.files:
        assert f.flags & (flags.FD_ATTRIBUTES | flags.FD_FILESIZE | flags.FD_WRITESTIME | flags.FD_SHOWPROGRESSUI)
        assert f.write_time > 130_000_000_000_000_000  # a FILETIME of this century
    assert listing.encode() == data


def test_freerdp_dib_is_the_bmp_it_was_given() -> None:
    """xfreerdp's CF_DIB for an X image/bmp: a 24-bit bottom-up DIB with the pixels of the BMP."""
    image = dib.decode_dib(load_hex("freerdp-2.11/17-cliprdr-dib.hex"))
    expected = gradient_image()
    assert (image.width, image.height) == (173, 91)
    assert np.array_equal(image.array()[..., :3], expected[..., :3])
    assert (image.array()[..., 3] == 255).all()


# -- hand-made DIBs -----------------------------------------------------------------------

RGBA = np.array([[[255, 0, 0, 255], [0, 255, 0, 128], [0, 0, 255, 0]],
                 [[10, 20, 30, 40], [50, 60, 70, 80], [90, 100, 110, 120]]], np.uint8)


def header(width: int, height: int, bpp: int, compression: int = dib.BI_RGB, size: int = 40,
           clr_used: int = 0) -> bytes:
    return struct.pack("<IiiHHIIiiII", size, width, height, 1, bpp, compression, 0, 0, 0, clr_used, 0)


def rows(rgba: np.ndarray, bpp: int, order: str = "BGRA", bottom_up: bool = True) -> bytes:
    index = {"R": 0, "G": 1, "B": 2, "A": 3}
    px = rgba[..., [index[c] for c in order[: bpp // 8]]]
    stride = (rgba.shape[1] * bpp + 31) // 32 * 4
    out = b""
    for row in (px[::-1] if bottom_up else px):
        raw = row.tobytes()
        out += raw + bytes(stride - len(raw))
    return out


def test_24_bit_bottom_up_and_top_down() -> None:
    bottom = header(3, 2, 24) + rows(RGBA, 24)
    top = header(3, -2, 24) + rows(RGBA, 24, bottom_up=False)
    for data in (bottom, top):
        image = dib.decode_dib(data)
        assert np.array_equal(image.array()[..., :3], RGBA[..., :3])
        assert (image.array()[..., 3] == 255).all()


def test_32_bit_bi_rgb_is_opaque() -> None:
    image = dib.decode_dib(header(3, 2, 32) + rows(RGBA, 32))
    assert np.array_equal(image.array()[..., :3], RGBA[..., :3]) and (image.array()[..., 3] == 255).all()


def test_bitfields_after_an_info_header_in_another_order() -> None:
    masks = struct.pack("<III", 0x000000FF, 0x0000FF00, 0x00FF0000)  # R, G, B in bytes 0, 1, 2
    data = header(3, 2, 32, dib.BI_BITFIELDS) + masks + rows(RGBA, 32, order="RGBA")
    image = dib.decode_dib(data)
    assert np.array_equal(image.array()[..., :3], RGBA[..., :3])


def test_v5_keeps_alpha_and_round_trips() -> None:
    image = dib.Image.from_array(RGBA)
    v5 = dib.encode_dib(image, v5=True)
    assert struct.unpack_from("<I", v5)[0] == dib.V5_HEADER
    assert dib.decode_dib(v5) == image
    plain = dib.encode_dib(image)
    again = dib.decode_dib(plain)
    assert np.array_equal(again.array()[..., :3], RGBA[..., :3])


def test_colour_table_entries_are_skipped() -> None:
    data = header(3, 2, 24, clr_used=2) + bytes(8) + rows(RGBA, 24)
    assert np.array_equal(dib.decode_dib(data).array()[..., :3], RGBA[..., :3])


@pytest.mark.parametrize(("data", "why"), [
    (header(3, 2, 24) + rows(RGBA, 24)[:-1], "needs 64 bytes, has 63"),  # a short last row
    (header(1000, 1000, 32) + bytes(100), "needs 4000040 bytes"),
    (header(3, 2, 8) + rows(RGBA, 24), "bits per pixel"),
    (header(3, 2, 24, compression=1) + rows(RGBA, 24), "compression 1"),
    (header(3, 2, 24, compression=dib.BI_BITFIELDS) + rows(RGBA, 24), "BI_BITFIELDS at 24 bpp"),
    (header(3, 2, 32, dib.BI_BITFIELDS) + struct.pack("<III", 0xF00, 0xFF00, 0xFF) + rows(RGBA, 32),
     "not one whole byte"),
    (header(3, 2, 32, dib.BI_BITFIELDS) + struct.pack("<III", 0xFF, 0xFF, 0xFF0000) + rows(RGBA, 32), "overlap"),
    (header(0, 2, 24), "0 x 2"),
    (header(3, 0, 24), "3 x 0"),
    (header(3, 2, 24, size=64) + rows(RGBA, 24), "header of 64 bytes"),
    (header(3, 2, 24, clr_used=300) + rows(RGBA, 24), "colour table of 300"),
    (header(100000, 100000, 24), "over"),
    (b"\x28\x00\x00", "shorter than its header"),
])
def test_lying_or_unsupported_dibs_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        dib.decode_dib(data)


def test_png_size_is_read_before_decoding() -> None:
    png = dib.image_to_png(dib.Image.from_array(RGBA))
    assert dib.png_size(png) == (3, 2)
    assert dib.png_to_image(png) == dib.Image.from_array(RGBA)
    huge = png[:16] + struct.pack(">II", 100000, 100000) + png[24:]
    with pytest.raises(RemoteProtocolError, match="PNG of 100000 x 100000"):
        dib.png_to_image(huge)
    with pytest.raises(RemoteProtocolError, match="does not decode"):
        dib.png_to_image(png[:40])


# -- properties ---------------------------------------------------------------------------

images = st.integers(1, 9).flatmap(lambda w: st.integers(1, 9).flatmap(lambda h: st.binary(
    min_size=w * h * 4, max_size=w * h * 4).map(lambda b: dib.Image(w, h, b))))


@settings(max_examples=200, deadline=None)
@given(images)
def test_any_image_survives_dibv5(image: dib.Image) -> None:
    assert dib.decode_dib(dib.encode_dib(image, v5=True)) == image


@settings(max_examples=200, deadline=None)
@given(images, st.booleans())
def test_any_truncated_dib_is_refused(image: dib.Image, v5: bool) -> None:
    data = dib.encode_dib(image, v5=v5)
    for cut in {0, 10, len(data) // 2, len(data) - 1}:
        with pytest.raises(RemoteProtocolError):
            dib.decode_dib(data[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_dib_reader(data: bytes) -> None:
    try:
        image = dib.decode_dib(header(2, 2, 32) + data)
    except RemoteProtocolError:
        return
    assert len(image.rgba) == image.width * image.height * 4


names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=100).filter(
    lambda n: len(n.encode("utf-16-le")) <= 518)
descriptors = st.builds(cliprdr.FileDescriptor, names, st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
                        st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(descriptors, max_size=5))
def test_file_lists_round_trip(files: list[cliprdr.FileDescriptor]) -> None:
    listing = cliprdr.FileList(tuple(files))
    data = listing.encode()
    assert len(data) == 4 + cliprdr.FILE_DESCRIPTOR_SIZE * len(files)
    assert cliprdr.FileList.decode(data) == listing


@settings(max_examples=200, deadline=None)
@given(st.lists(descriptors, min_size=1, max_size=3), st.integers(-3, 3).filter(bool))
def test_a_file_list_whose_count_lies_is_refused(files: list[cliprdr.FileDescriptor], error: int) -> None:
    data = cliprdr.FileList(tuple(files)).encode()
    lying = struct.pack("<I", max(0, len(files) + error)) + data[4:]
    with pytest.raises(RemoteProtocolError, match="claims"):
        cliprdr.FileList.decode(lying)


def test_a_huge_file_count_is_refused_before_reading() -> None:
    with pytest.raises(RemoteProtocolError, match="over 4096"):
        cliprdr.FileList.decode(struct.pack("<I", 2**32 - 1))


def test_a_name_without_terminator_is_refused() -> None:
    data = bytearray(cliprdr.FileList((cliprdr.FileDescriptor("x"),)).encode())
    data[4 + 72:] = "y".encode("utf-16-le") * 260
    with pytest.raises(RemoteProtocolError, match="no terminating NUL"):
        cliprdr.FileList.decode(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.sampled_from([1, 2]), st.integers(0, 2**64 - 1),
       st.integers(0, 2**32 - 1), st.none() | st.integers(0, 2**32 - 1))
def test_file_contents_requests_round_trip(stream: int, index: int, flags: int, position: int, requested: int,
                                           clip: int | None) -> None:
    pdu = cliprdr.FileContentsRequest(stream, index, flags, position, requested, clip)
    assert cliprdr.decode_clipboard(cliprdr.encode_clipboard(pdu)) == pdu


def test_file_contents_request_with_unknown_flags_is_refused() -> None:
    pdu = cliprdr.FileContentsRequest(1, 0, 3, 0, 8)
    with pytest.raises(RemoteProtocolError, match="dwFlags"):
        cliprdr.decode_clipboard(cliprdr.encode_clipboard(pdu))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.binary(max_size=64), st.booleans())
def test_file_contents_responses_round_trip(stream: int, data: bytes, ok: bool) -> None:
    pdu = cliprdr.FileContentsResponse(stream, data, ok)
    assert cliprdr.decode_clipboard(cliprdr.encode_clipboard(pdu)) == pdu


def test_a_size_answer_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="not 8"):
        cliprdr.FileContentsResponse(1, b"\x01\x02\x03").file_size()


# -- what of a client's offer is fetched --------------------------------------------------

@pytest.mark.parametrize(("formats", "names", "kind"), [
    ((13, 1), (), None),
    ((0xC100, 13), ("FileGroupDescriptorW", ""), ("files", 0xC100)),
    ((0xD011,), (), ("png", 0xD011)),  # FreeRDP 2.x: X image/png, unnamed
    ((0xD011, 8), (), ("dib", 8)),  # ... which FreeRDP 2.11 cannot send: the DIB first
    ((0xC200, 8), ("PNG", ""), ("png", 0xC200)),
    ((8, 17, 13), (), ("dib", 17)),
    ((8, 13), (), ("dib", 8)),
    # FreeRDP's provisional list (CF_RAW first): nothing fetched
    ((0, 13, 1, 0xD011, 8, 0xD014), ("", "", "", "", "", "FileGroupDescriptorW"), None),
])
def test_offer_kind(formats, names, kind) -> None:
    from rdpfront import events
    from rdpfront.clipboard_transfer import offer_kind

    assert offer_kind(events.ClipboardOffer(13 in formats, formats, names)) == kind


def test_image_choices_in_order() -> None:
    from rdpfront import events
    from rdpfront.clipboard_transfer import offer_choices

    offer = events.ClipboardOffer(False, (0xD011, 8, 0xC200, 17), ("", "", "PNG", ""))
    assert offer_choices(offer) == [("png", 0xC200), ("dib", 17), ("dib", 8), ("png", 0xD011)]
