"""Just enough H.264 bitstream syntax to renumber the pictures of a stream for one decoder.

A viewer that joins a running H.264 stream is given a keyframe of its own (an IDR encoded
apart, ``H264Encoder.catch_up``) and then the stream's next P-frames, which its decoder
predicts from that IDR. An IDR always has ``frame_num`` 0, while the stream's P-frames carry
the encoder's running count: a decoder would see a gap (H.264 7.4.3) and, with
``gaps_in_frame_num_value_allowed_flag`` off, treat the frames in between as lost. So each
P-frame that viewer receives gets its ``frame_num`` rewritten to count from its own IDR.

``frame_num`` is a fixed-width field near the start of every slice header (after three
Exp-Golomb fields), so the rewrite keeps the slice's length; only the emulation-prevention
bytes (7.4.1) are redone. The width is ``log2_max_frame_num`` from the sequence parameter
set; with ``pic_order_cnt_type`` 2 (no B-frames, what our encoder makes) picture order
follows ``frame_num``, so nothing else in the header needs to change.

Annex B framing as our encoder writes it: NAL units behind 3- or 4-byte start codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAL_SLICE = 1
NAL_IDR = 5
NAL_SPS = 7

_START = re.compile(b"\x00\x00\x01")
# Emulation prevention: a 0x03 after every two zero bytes that precede a byte 0..3.
_NEEDS_ESCAPE = re.compile(b"\x00\x00(?=[\x00-\x03])")


class BitstreamError(ValueError):
    """A bitstream this module cannot read (truncated, or not what our encoder writes)."""


def nal_units(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each non-empty NAL unit's bytes (header included, start code excluded)."""
    starts = [m.end() for m in _START.finditer(data)]
    units = []
    for i, start in enumerate(starts):
        end = len(data)
        if i + 1 < len(starts):
            end = starts[i + 1] - 3
            if data[end - 1] == 0:  # a 4-byte start code's leading zero
                end -= 1
        if end > start:
            units.append((start, end))
    return units


def unescape(ebsp: bytes) -> bytes:
    """The raw payload of a NAL unit: emulation-prevention bytes removed."""
    return ebsp.replace(b"\x00\x00\x03", b"\x00\x00")


def escape(rbsp: bytes) -> bytes:
    return _NEEDS_ESCAPE.sub(b"\x00\x00\x03", rbsp)


class BitReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bits(self, n: int) -> int:
        if self.pos + n > 8 * len(self.data):
            raise BitstreamError("bitstream ends inside a field")
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        """An unsigned Exp-Golomb code (9.1), at most 32 bits of value."""
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        """A signed Exp-Golomb code (9.1.1): 1, -1, 2, -2, ... for codes 1, 2, 3, 4, ..."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


# Profiles whose SPS carries chroma_format_idc and friends before log2_max_frame_num (7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


@dataclass(frozen=True)
class SequenceInfo:
    log2_max_frame_num: int
    poc_type: int


def parse_sps(rbsp: bytes) -> SequenceInfo:
    """The fields of a sequence parameter set (payload after the NAL header) needed here."""
    r = BitReader(rbsp)
    profile = r.bits(8)
    r.bits(16)  # constraint flags, level
    r.ue()  # seq_parameter_set_id
    if profile in _HIGH_PROFILES:
        raise BitstreamError(f"profile {profile}: only Baseline/Main parameter sets are read")
    log2_max_frame_num = r.ue() + 4
    if log2_max_frame_num > 16:
        raise BitstreamError(f"log2_max_frame_num {log2_max_frame_num} is over 16")
    return SequenceInfo(log2_max_frame_num, r.ue())


def sequence_of(payload: bytes) -> SequenceInfo | None:
    """The sequence parameters an access unit carries in front (an IDR with its headers);
    None when it has no SPS."""
    for start, end in nal_units(payload):
        if payload[start] & 0x1F == NAL_SPS:
            return parse_sps(unescape(payload[start + 1:end]))
    return None


def frame_num(payload: bytes, info: SequenceInfo) -> int | None:
    """The ``frame_num`` of the first slice in an access unit; None if it has no slice."""
    for start, end in nal_units(payload):
        if payload[start] & 0x1F in (NAL_SLICE, NAL_IDR):
            # The fields before frame_num fit in the first few bytes; unescape only those.
            r = BitReader(unescape(payload[start + 1:min(end, start + 17)]))
            r.ue(), r.ue(), r.ue()  # first_mb_in_slice, slice_type, pic_parameter_set_id
            return r.bits(info.log2_max_frame_num)
    return None


def renumber(payload: bytes, info: SequenceInfo, offset: int) -> bytes:
    """``payload`` (an access unit of non-IDR slices) with every slice's ``frame_num``
    lowered by ``offset`` modulo MaxFrameNum."""
    if info.poc_type != 2:
        raise BitstreamError(f"pic_order_cnt_type {info.poc_type}: renumbering needs type 2")
    modulus = 1 << info.log2_max_frame_num
    out = []
    last = 0
    for start, end in nal_units(payload):
        kind = payload[start] & 0x1F
        if kind == NAL_IDR:
            raise BitstreamError("an IDR slice is numbered 0 and is never renumbered")
        if kind != NAL_SLICE:
            continue
        rbsp = bytearray(unescape(payload[start + 1:end]))
        r = BitReader(bytes(rbsp))
        r.ue(), r.ue(), r.ue()
        at, width = r.pos, info.log2_max_frame_num
        value = (r.bits(width) - offset) % modulus
        for i in range(width):
            bit = (value >> (width - 1 - i)) & 1
            byte, shift = (at + i) >> 3, 7 - ((at + i) & 7)
            rbsp[byte] = (rbsp[byte] & ~(1 << shift)) | (bit << shift)
        out += [payload[last:start + 1], escape(bytes(rbsp))]
        last = end
    out.append(payload[last:])
    return b"".join(out)
