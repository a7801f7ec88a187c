"""MS-RDPEI (multi-touch input): the variable-length integers, the PDUs both ways, the contact
slots, and the channel in a connection held in memory."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compositor import messages
from rdpfront import dvc, events, rdpei
from rdpfront.channels.registry import INPUT_CHANNEL_ID
from rdpfront.channels.touch import ContactSlots
from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from tests.rdpfront.helpers import connected

F = rdpei.ContactFlags
DOWN = F.DOWN | F.INRANGE | F.INCONTACT
MOVE = F.UPDATE | F.INRANGE | F.INCONTACT
UP = F.UP

# (writer, reader, value, bytes): the encodings of [MS-RDPEI 2.2.2], both directions.
VARINTS = [
    (rdpei.write_u2, rdpei.read_u2, 0, b"\x00"),
    (rdpei.write_u2, rdpei.read_u2, 0x7F, b"\x7f"),
    (rdpei.write_u2, rdpei.read_u2, 0x80, b"\x80\x80"),
    (rdpei.write_u2, rdpei.read_u2, 0x7FFF, b"\xff\xff"),
    (rdpei.write_i2, rdpei.read_i2, -1, b"\x41"),
    (rdpei.write_i2, rdpei.read_i2, 0x3F, b"\x3f"),
    (rdpei.write_i2, rdpei.read_i2, -0x3FFF, b"\xff\xff"),
    (rdpei.write_u4, rdpei.read_u4, 0x3F, b"\x3f"),
    (rdpei.write_u4, rdpei.read_u4, 0x40, b"\x40\x40"),
    (rdpei.write_u4, rdpei.read_u4, 0x123456, b"\x92\x34\x56"),
    (rdpei.write_u4, rdpei.read_u4, 0x3FFFFFFF, b"\xff\xff\xff\xff"),
    (rdpei.write_i4, rdpei.read_i4, 1919, b"\x47\x7f"),
    (rdpei.write_i4, rdpei.read_i4, -5, b"\x25"),
    (rdpei.write_i4, rdpei.read_i4, -0x1FFFFFFF, b"\xff\xff\xff\xff"),
    (rdpei.write_u8, rdpei.read_u8, 0, b"\x00"),
    (rdpei.write_u8, rdpei.read_u8, 0x20, b"\x20\x20"),
    (rdpei.write_u8, rdpei.read_u8, rdpei.EIGHT_BYTE_UNSIGNED_MAX, b"\xff" * 8),
]


@pytest.mark.parametrize(("write", "read", "value", "data"), VARINTS)
def test_varints_both_directions(write, read, value, data):
    w = Writer()
    write(w, value)
    assert w.getvalue() == data
    r = Reader(data)
    assert read(r, "v") == value
    assert r.remaining() == 0


RANGES = [
    (rdpei.write_u2, rdpei.read_u2, 0, rdpei.TWO_BYTE_UNSIGNED_MAX),
    (rdpei.write_i2, rdpei.read_i2, -rdpei.TWO_BYTE_SIGNED_MAX, rdpei.TWO_BYTE_SIGNED_MAX),
    (rdpei.write_u4, rdpei.read_u4, 0, rdpei.FOUR_BYTE_UNSIGNED_MAX),
    (rdpei.write_i4, rdpei.read_i4, -rdpei.FOUR_BYTE_SIGNED_MAX, rdpei.FOUR_BYTE_SIGNED_MAX),
    (rdpei.write_u8, rdpei.read_u8, 0, rdpei.EIGHT_BYTE_UNSIGNED_MAX),
]


@pytest.mark.parametrize(("write", "read", "lo", "hi"), RANGES)
@settings(max_examples=150)
@given(data=st.data())
def test_every_value_in_range_round_trips_and_beyond_is_refused(write, read, lo, hi, data):
    value = data.draw(st.integers(lo, hi))
    w = Writer()
    write(w, value)
    r = Reader(w.getvalue())
    assert read(r, "v") == value and r.remaining() == 0
    with pytest.raises(LocalProtocolError):
        write(Writer(), data.draw(st.sampled_from([lo - 1, hi + 1])))


contacts = st.builds(
    rdpei.Contact, st.integers(0, 255), st.integers(-rdpei.FOUR_BYTE_SIGNED_MAX, rdpei.FOUR_BYTE_SIGNED_MAX),
    st.integers(-rdpei.FOUR_BYTE_SIGNED_MAX, rdpei.FOUR_BYTE_SIGNED_MAX), st.integers(0, 0x3F),
    st.none() | st.tuples(*[st.integers(-rdpei.TWO_BYTE_SIGNED_MAX, rdpei.TWO_BYTE_SIGNED_MAX)] * 4),
    st.none() | st.integers(0, 359), st.none() | st.integers(0, 1024))
frames = st.builds(rdpei.TouchFrame, st.lists(contacts, max_size=4).map(tuple),
                   st.integers(0, rdpei.EIGHT_BYTE_UNSIGNED_MAX))
client_pdus = st.one_of(
    st.builds(rdpei.CsReady, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF)),
    st.builds(rdpei.TouchEvent, st.lists(frames, max_size=4).map(tuple), st.integers(0, rdpei.FOUR_BYTE_UNSIGNED_MAX)),
    st.builds(rdpei.DismissHoveringContact, st.integers(0, 255)),
)
server_pdus = st.one_of(
    st.builds(rdpei.ScReady, st.sampled_from([rdpei.PROTOCOL_V10, rdpei.PROTOCOL_V101, rdpei.PROTOCOL_V200])),
    st.builds(rdpei.ScReady, st.just(rdpei.PROTOCOL_V300), st.integers(0, 2**32 - 1)),
    st.just(rdpei.SuspendInput()), st.just(rdpei.ResumeInput()),
)


@settings(max_examples=300)
@given(client_pdus)
def test_client_pdus_round_trip(pdu):
    data = rdpei.encode_rdpei(pdu)
    assert rdpei.decode_rdpei(data) == pdu
    assert rdpei.encode_rdpei(rdpei.decode_rdpei(data)) == data


@given(server_pdus)
def test_server_pdus_round_trip(pdu):
    assert rdpei.decode_rdpei(rdpei.encode_rdpei(pdu), from_server=True) == pdu


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_hostile_bytes_only_raise_remote_errors(data):
    for from_server in (False, True):
        try:
            pdu = rdpei.decode_rdpei(data, from_server=from_server)
        except RemoteProtocolError:
            continue
        # Whatever decodes encodes to a message that decodes the same (the oracle of a fuzzer).
        assert rdpei.decode_rdpei(rdpei.encode_rdpei(pdu), from_server=from_server) == pdu


@settings(max_examples=200)
@given(client_pdus, st.data())
def test_truncated_or_padded_pdus_are_refused(pdu, data):
    encoded = rdpei.encode_rdpei(pdu)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(RemoteProtocolError):
        rdpei.decode_rdpei(encoded[:cut])
    padded = encoded[:2] + (len(encoded) + 1).to_bytes(4, "little") + encoded[6:] + b"\x00"
    with pytest.raises(RemoteProtocolError):
        rdpei.decode_rdpei(padded)


def test_a_touch_event_on_the_wire():
    """Two frames of one contact, every optional field in the second: the bytes
    laid out by hand from [MS-RDPEI 2.2.3.3]."""
    pdu = rdpei.TouchEvent((
        rdpei.TouchFrame((rdpei.Contact(5, 100, 200, int(DOWN)),), 0),
        rdpei.TouchFrame((rdpei.Contact(5, -3, 70, int(UP), (-2, -2, 2, 2), 90, 512),), 0x1234),
    ), encode_time=16)
    body = (b"\x10" b"\x02"  # encodeTime 16, frameCount 2
            b"\x01" b"\x00"  # contactCount 1, frameOffset 0
            b"\x05" b"\x00" b"\x40\x64" b"\x40\xc8" b"\x19"  # id 5, no fields, x 100, y 200, flags
            b"\x01" b"\x32\x34"  # contactCount 1, frameOffset 0x1234
            b"\x05" b"\x07" b"\x23" b"\x40\x46" b"\x04"  # id 5, all fields, x -3, y 70, UP
            b"\x42\x42\x02\x02" b"\x40\x5a" b"\x42\x00")  # rect, orientation 90, pressure 512
    data = b"\x03\x00" + (6 + len(body)).to_bytes(4, "little") + body
    assert rdpei.encode_rdpei(pdu) == data
    assert rdpei.decode_rdpei(data) == pdu


def test_too_many_frames_or_contacts_are_refused_before_reading_them():
    w = Writer()
    rdpei.write_u4(w, 0)
    rdpei.write_u2(w, rdpei.MAX_FRAMES + 1)
    body = w.getvalue()
    with pytest.raises(RemoteProtocolError, match="frames"):
        rdpei.decode_rdpei(b"\x03\x00" + (6 + len(body)).to_bytes(4, "little") + body)
    w = Writer()
    rdpei.write_u4(w, 0)
    rdpei.write_u2(w, 1)
    rdpei.write_u2(w, rdpei.MAX_CONTACTS_PER_FRAME + 1)
    body = w.getvalue()
    with pytest.raises(RemoteProtocolError, match="contacts"):
        rdpei.decode_rdpei(b"\x03\x00" + (6 + len(body)).to_bytes(4, "little") + body)


# -- contact slots --------------------------------------------------------------------------


def frame(*contacts: tuple[int, int, int, int]) -> rdpei.TouchFrame:
    return rdpei.TouchFrame(tuple(rdpei.Contact(cid, x, y, int(flags)) for cid, x, y, flags in contacts))


T = messages.TouchEvent
P = messages.TouchPhase
END = messages.TouchFrameEvent()


def test_contacts_map_to_slots_and_free_them():
    slots = ContactSlots()
    assert slots.frame(frame((200, 10, 20, DOWN), (7, 30, 40, DOWN))) == [
        T(P.DOWN, 0, 10, 20), T(P.DOWN, 1, 30, 40), END]
    assert slots.frame(frame((200, 11, 21, MOVE), (7, -5, 99999, MOVE))) == [
        T(P.MOTION, 0, 11, 21), T(P.MOTION, 1, 0, messages.MAX_COORDINATE), END]
    assert slots.frame(frame((200, 11, 21, UP))) == [T(P.UP, 0, 11, 21), END]
    assert slots.frame(frame((9, 1, 1, DOWN))) == [T(P.DOWN, 0, 1, 1), END]  # slot 0 is free again
    # Hovering (in range, not in contact) and contacts never down give nothing.
    assert slots.frame(frame((9, 2, 2, F.UPDATE | F.INRANGE), (42, 3, 3, MOVE), (43, 3, 3, UP))) == []
    assert slots.frame(frame((7, 0, 0, F.UP | F.CANCELED))) == [T(P.CANCEL, 0), END]
    assert slots.slots == {}


def test_an_eleventh_contact_is_refused_with_a_log_line(caplog):
    slots = ContactSlots("conn=7")
    downs = slots.frame(frame(*[(100 + i, i, i, DOWN) for i in range(messages.MAX_TOUCH_CONTACTS)]))
    assert [e.id for e in downs if isinstance(e, T)] == list(range(messages.MAX_TOUCH_CONTACTS))
    with caplog.at_level(logging.WARNING):
        assert slots.frame(frame((99, 5, 5, DOWN))) == []
        assert slots.frame(frame((99, 6, 6, MOVE))) == []  # the refused contact stays ignored
    assert "conn=7 touch contact 99 refused: 10 contacts are down already" in caplog.text
    assert slots.refused == 1
    assert slots.release_all() == [T(P.CANCEL, 0), END]


# -- the channel in a connection ------------------------------------------------------------


def input_channel_open():
    client = connected(channels=("cliprdr", "drdynvc"))
    client.send_dvc(dvc.CapsResponse(3))
    client.pump()
    client.send_dvc(dvc.CreateResponse(INPUT_CHANNEL_ID, 0))
    (ready,) = [p for p in client.pump() if isinstance(p, dvc.Data)]
    assert ready.channel_id == INPUT_CHANNEL_ID
    assert rdpei.decode_rdpei(ready.data, from_server=True) == rdpei.ScReady(rdpei.PROTOCOL_V200)
    return client


def send_rdpei(client, pdu) -> None:
    for piece in dvc.split_message(INPUT_CHANNEL_ID, rdpei.encode_rdpei(pdu)):
        client.send_dvc(piece)


def test_the_channel_turns_touch_events_into_host_touch():
    client = input_channel_open()
    client.server.events()
    send_rdpei(client, rdpei.CsReady(0, rdpei.PROTOCOL_V200, 10))
    send_rdpei(client, rdpei.TouchEvent((frame((3, 100, 50, DOWN)), frame((3, 100, 50, UP)))))
    touch = [e for e in client.server.events() if isinstance(e, events.TouchInput)]
    assert touch == [events.TouchInput((T(P.DOWN, 0, 100, 50), END, T(P.UP, 0, 100, 50), END))]
    # Closing the channel with a contact down cancels it.
    send_rdpei(client, rdpei.TouchEvent((frame((4, 1, 2, DOWN)),)))
    client.server.events()
    client.send_dvc(dvc.Close(INPUT_CHANNEL_ID))
    assert [e for e in client.server.events() if isinstance(e, events.TouchInput)] == [
        events.TouchInput((T(P.CANCEL, 0), END))]


def test_a_server_pdu_from_the_client_closes_the_connection():
    client = input_channel_open()
    with pytest.raises(RemoteProtocolError, match="unexpected RDPINPUT eventId 0x4 from the client"):
        send_rdpei(client, rdpei.SuspendInput())
