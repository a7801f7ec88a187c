"""The per-frame framing's fast paths (a message that fits one chunk, one DVC PDU) give the
same bytes as the general layered encoders, and read back through the decoders."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rdpfront import dvc, mcs, wire, x224
from rdpfront.cursor import Reader, encode
from rdpfront.svc import CHANNEL_CHUNK_LENGTH, ChannelFlags, ChannelPdu, chunk_message

messages = st.binary(max_size=1700) | st.integers(0, 3300).map(bytes)


def layered_channel_data(channel_id: int, message: bytes) -> bytes:
    """``wire.channel_data`` built layer by layer (each chunk a Send Data Indication)."""
    out = bytearray()
    for chunk in chunk_message(message, CHANNEL_CHUNK_LENGTH, ChannelFlags.SHOW_PROTOCOL):
        out += x224.data_frame(encode(mcs.SendDataIndication(wire.SERVER_USER_ID, channel_id, chunk)))
    return bytes(out)


@settings(max_examples=300)
@given(st.integers(0, 0xFFFF), messages)
def test_static_channel_messages_frame_as_the_layers_do(channel_id: int, message: bytes) -> None:
    framed = wire.channel_data(channel_id, message)
    assert framed == layered_channel_data(channel_id, message)
    if len(message) <= CHANNEL_CHUNK_LENGTH:  # one TPKT: read it back through the layers
        assert int.from_bytes(framed[2:4], "big") == len(framed)
        pdu = mcs.decode_domain_pdu(Reader(framed[7:]))
        assert (pdu.initiator, pdu.channel_id) == (wire.SERVER_USER_ID, channel_id)
        chunk = ChannelPdu.decode(Reader(pdu.data))
        assert chunk.total_length == len(message) and chunk.chunk == message
        assert chunk.flags == ChannelFlags.FIRST | ChannelFlags.LAST | ChannelFlags.SHOW_PROTOCOL


@settings(max_examples=300)
@given(st.sampled_from([0, 1, 7, 255, 256, 0xFFFF, 0x10000, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF), messages)
def test_dvc_messages_split_as_the_pdu_encoder_does(channel_id: int, message: bytes) -> None:
    pieces = dvc.split_message(channel_id, message)
    whole = dvc.encode_dvc(dvc.Data(channel_id, message))
    if len(whole) <= dvc.MAX_PDU:
        assert pieces == [whole]
    assert all(len(p) <= dvc.MAX_PDU for p in pieces)
    reassembler = dvc.DvcReassembler()
    out = [reassembler.push(dvc.decode_dvc(p)) for p in pieces]
    assert out[-1] == message and all(o is None for o in out[:-1])
