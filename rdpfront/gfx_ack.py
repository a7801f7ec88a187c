"""[MS-RDPEGFX 2.2.2.13] The client's RDPGFX_FRAME_ACKNOWLEDGE_PDU read from its whole
slow-path frame in one pass.

The client acknowledges every graphics frame (one a keystroke while typing), each in a frame
of its own: TPKT, X.224 Data, MCS Send Data Request, CHANNEL_PDU_HEADER of one chunk, DVC
Data PDU, Frame Acknowledge. Read layer by layer (``wire.read_domain_pdu``,
``svc.ChannelPdu``, ``dvc.decode_dvc``, ``gfx.decode_client``) that is ~50 byte-cursor calls;
here it is two ``struct`` calls and a few comparisons. ``read`` accepts only frames the
layers accept and deliver as one whole Frame Acknowledge, with the same values; anything else
(including what the layers would refuse) is None and goes through the layers, which raise
the proper errors. Where the layers are more lenient (trailing bytes after the MCS user data,
a chunk shorter than its announced total, a Send Data Indication from a client) the frame is
left to them too.
"""

from __future__ import annotations

import struct

from rdpfront import dvc, gfx, mcs, x224
from rdpfront.svc import ChannelFlags
from rdpfront.tpkt import TPKT_VERSION
from rdpfront.wire import IO_CHANNEL_ID

# (MCS channel id, DVC channel id, queueDepth, frameId, totalFramesDecoded)
FrameAck = tuple[int, int, int, int, int]

# TPKT (version, reserved, length), X.224 Data header, MCS Send Data Request (choice,
# initiator, channelId, dataPriority/segmentation) and the first byte of its PER length.
_HEAD = struct.Struct(">BxH3sBxxHxB")
_ACK_LENGTH = 20  # RDPGFX_FRAME_ACKNOWLEDGE_PDU, header included
# The MCS user data by its length: CHANNEL_PDU_HEADER (length, flags), the DVC header and
# ChannelId (1, 2 or 4 bytes: cbId 0, 1, 2), RDPGFX_HEADER (cmdId, flags, pduLength) and the
# Frame Acknowledge's queueDepth, frameId and totalFramesDecoded.
_BODIES = {body.size: (cb_id, body) for cb_id, body in
           enumerate(struct.Struct("<IIB" + id_format + "HxxIIII") for id_format in "BHI")}
# Plain ints: an IntFlag operand would make ``&`` a Python call.
_CHOICE = int(mcs.DomainMcsPdu.SEND_DATA_REQUEST)
_ONE_CHUNK = int(ChannelFlags.FIRST | ChannelFlags.LAST)
_CHUNK_MASK = _ONE_CHUNK | int(ChannelFlags.PACKET_COMPRESSED)
_DVC_DATA = int(dvc.Cmd.DATA) << 4
_FRAME_ACKNOWLEDGE = int(gfx.Cmd.FRAME_ACKNOWLEDGE)


def read(frame: bytes) -> FrameAck | None:
    """The Frame Acknowledge in ``frame`` (a whole TPKT frame, header included) if it is one
    uncompressed single-chunk static channel message carrying one whole DVC Data PDU that
    carries exactly one Frame Acknowledge; None otherwise."""
    if len(frame) <= _HEAD.size:
        return None
    version, length, x224_header, choice, channel_id, per_length = _HEAD.unpack_from(frame)
    start = _HEAD.size
    if per_length & 0x80:  # the two-byte PER length form
        per_length = (per_length & 0x7F) << 8 | frame[start]
        start += 1
    found = _BODIES.get(per_length)
    if (found is None or version != TPKT_VERSION or length != len(frame) or start + per_length != length
            or x224_header != x224.X224_DATA_HEADER or choice >> 2 != _CHOICE or channel_id == IO_CHANNEL_ID):
        return None
    cb_id, body = found
    total, flags, header, dvc_channel, cmd, pdu_length, queue_depth, frame_id, decoded = body.unpack_from(frame, start)
    if (total != per_length - 8 or flags & _CHUNK_MASK != _ONE_CHUNK or header & 0xF3 != _DVC_DATA | cb_id
            or cmd != _FRAME_ACKNOWLEDGE or pdu_length != _ACK_LENGTH):
        return None
    return channel_id, dvc_channel, queue_depth, frame_id, decoded
