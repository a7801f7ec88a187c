"""A *still* picture for a recording: an H.264 P picture whose every macroblock is skipped
(a copy of the previous picture), made without an encoder from the stream's own parameter sets.

Why: a picture's MP4 duration is known only when the next one arrives, and libavformat writes a
fragment out only when a later packet passes it; on a desktop whose screen stops changing, the
last change would stay out of the growing file until the next one. The recorder adds a still
picture about every two seconds while nothing changes, so the last change reaches the file
(and a player reading it) within a few seconds; a still costs a few bytes.

A still is a *reference* picture (a non-reference one is not allowed twice in a row with
``pic_order_cnt_type`` 2, H.264 7.4.2.1.1), so it takes a ``frame_num``: the host's later
P pictures are renumbered to follow it (``h264_syntax.renumber``, their length unchanged) until
the next IDR. It is only made for streams this is exact for: one reference frame (the host's
later pictures predict from the still, identical to the picture they were coded against),
CAVLC, no weighted prediction, frames only, one slice group, ``pic_order_cnt_type`` 2: what
the session host's x264 settings give (baseline, ultrafast, zerolatency). Other streams get no
stills (``StillMaker.for_keyframe`` returns None).

Syntax: slice_header 7.3.3, dec_ref_pic_marking 7.3.3.3, slice_data 7.3.4 (CAVLC: one
``mb_skip_run`` covering the picture), SPS 7.3.2.1.1, PPS 7.3.2.2.
"""

from __future__ import annotations

from dataclasses import dataclass

from compositor.encoders import h264_syntax as hs
from compositor.encoders.h264_syntax import BitReader, BitstreamError

NAL_PPS = 8


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        """The bits with ``rbsp_trailing_bits`` (a one, then zeros to the byte)."""
        bits = [*self.bits, 1]
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


@dataclass(frozen=True)
class StillMaker:
    """What a still of one coded video sequence needs from its SPS and PPS."""

    pps_id: int
    log2_max_frame_num: int
    macroblocks: int
    deblocking_control: bool
    redundant_pic_cnt: bool
    nal_ref_idc: int

    @classmethod
    def for_keyframe(cls, access_unit: bytes) -> StillMaker | None:
        """From an IDR access unit with SPS and PPS in front; None when stills would not be
        exact for this stream (see the module's docstring) or it cannot be read."""
        try:
            return cls._parse(access_unit)
        except (BitstreamError, IndexError):
            return None

    @classmethod
    def _parse(cls, access_unit: bytes) -> StillMaker | None:
        sps = pps = None
        nal_ref_idc = 0
        for start, end in hs.nal_units(access_unit):
            kind = access_unit[start] & 0x1F
            if kind == hs.NAL_SPS and sps is None:
                sps = hs.unescape(access_unit[start + 1:end])
            elif kind == NAL_PPS and pps is None:
                pps = hs.unescape(access_unit[start + 1:end])
            elif kind == hs.NAL_IDR:
                nal_ref_idc = (access_unit[start] >> 5) & 3
        if sps is None or pps is None or not nal_ref_idc:
            return None
        r = BitReader(sps)
        profile = r.bits(8)
        r.bits(16)
        r.ue()  # seq_parameter_set_id
        if profile in hs._HIGH_PROFILES:
            return None
        log2_max_frame_num = r.ue() + 4
        if r.ue() != 2:  # pic_order_cnt_type
            return None
        if r.ue() != 1:  # max_num_ref_frames
            return None
        r.bits(1)  # gaps_in_frame_num_value_allowed_flag
        width_mbs = r.ue() + 1
        height_mbs = r.ue() + 1
        if not r.bits(1):  # frame_mbs_only_flag
            return None
        r = BitReader(pps)
        pps_id = r.ue()
        r.ue()  # seq_parameter_set_id
        if r.bits(1):  # entropy_coding_mode_flag: CABAC
            return None
        r.bits(1)  # bottom_field_pic_order_in_frame_present_flag
        if r.ue() != 0:  # num_slice_groups_minus1
            return None
        r.ue(), r.ue()  # num_ref_idx_l0/l1_default_active_minus1
        if r.bits(1):  # weighted_pred_flag
            return None
        r.bits(2)  # weighted_bipred_idc
        r.se(), r.se(), r.se()  # pic_init_qp/qs, chroma_qp_index_offset
        deblocking_control = bool(r.bits(1))
        r.bits(1)  # constrained_intra_pred_flag
        redundant_pic_cnt = bool(r.bits(1))
        return cls(pps_id, log2_max_frame_num, width_mbs * height_mbs, deblocking_control, redundant_pic_cnt,
                   nal_ref_idc)

    @property
    def modulus(self) -> int:
        return 1 << self.log2_max_frame_num

    def still(self, frame_num: int) -> bytes:
        """An access unit: a P picture numbered ``frame_num``, every macroblock skipped."""
        w = BitWriter()
        w.ue(0)  # first_mb_in_slice
        w.ue(5)  # slice_type: P, as every slice of the picture
        w.ue(self.pps_id)
        w.u(self.log2_max_frame_num, frame_num % self.modulus)
        if self.redundant_pic_cnt:
            w.ue(0)
        w.u(1, 0)  # num_ref_idx_active_override_flag
        w.u(1, 0)  # ref_pic_list_modification_flag_l0
        w.u(1, 0)  # dec_ref_pic_marking: adaptive_ref_pic_marking_mode_flag (sliding window)
        w.se(0)  # slice_qp_delta
        if self.deblocking_control:
            w.ue(1)  # disable_deblocking_filter_idc: nothing to filter in a copy
        w.ue(self.macroblocks)  # slice_data: mb_skip_run over the whole picture, then no more data
        header = bytes([(self.nal_ref_idc << 5) | hs.NAL_SLICE])
        return b"\x00\x00\x00\x01" + header + hs.escape(w.rbsp())

    def frame_num(self, access_unit: bytes) -> int | None:
        return hs.frame_num(access_unit, hs.SequenceInfo(self.log2_max_frame_num, 2))

    def shifted(self, access_unit: bytes, stills: int) -> bytes:
        """A host P picture renumbered to come after ``stills`` inserted stills."""
        if not stills % self.modulus:
            return access_unit
        return hs.renumber(access_unit, hs.SequenceInfo(self.log2_max_frame_num, 2), -stills % self.modulus)
