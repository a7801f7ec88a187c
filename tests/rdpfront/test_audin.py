"""Audio input ([MS-RDPEAI]): the SNDIN PDUs (round trips, property tests) and the AUDIO_INPUT
dynamic channel driven in memory through a whole connection, good and bad clients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdpfront import audin, dvc, events
from rdpfront.channels.audio_input import FRAMES_PER_PACKET, OFFERED
from rdpfront.channels.registry import dynamic_channel_id
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.rdp.client_info import InfoFlags

from .helpers import MemoryClient, connected
from .test_properties import PROFILE

AUDIN_ID = dynamic_channel_id(audin.CHANNEL_NAME)
PCM_44K_STEREO = audin.AudioFormat.pcm(44100, 2)
PCM_48K_STEREO = audin.AudioFormat.pcm(48000, 2)
PCM_48K_MONO = audin.AudioFormat.pcm(48000, 1)
ALAW = audin.AudioFormat(audin.FormatTag.ALAW, 1, 8000, 8000, 1, 8)

# -- PDUs -------------------------------------------------------------------------------------

TABLE = [
    # (pdu, bytes, from_server)
    (audin.Version(1), bytes.fromhex("0101000000"), True),
    (audin.Version(2), bytes.fromhex("0102000000"), False),
    (audin.Formats((PCM_48K_MONO,)),
     bytes.fromhex("02 01000000 1b000000 0100 0100 80bb0000 00770100 0200 1000 0000"), True),
    (audin.Open(960, 0, PCM_48K_STEREO),
     bytes.fromhex("03 c0030000 00000000 0100 0200 80bb0000 00ee0200 0400 1000 0000"), True),
    (audin.OpenReply(0), bytes.fromhex("0400000000"), False),
    (audin.OpenReply(-2147467259), bytes.fromhex("0405400080"), False),  # E_FAIL
    (audin.DataIncoming(), b"\x05", False),
    (audin.Data(b"\x01\x00\xff\x7f"), b"\x06\x01\x00\xff\x7f", False),
    (audin.FormatChange(3), bytes.fromhex("0703000000"), False),
    (audin.FormatChange(0), bytes.fromhex("0700000000"), True),
]


@pytest.mark.parametrize(("pdu", "data", "from_server"), TABLE)
def test_table_both_directions(pdu: audin.AudinPdu, data: bytes, from_server: bool) -> None:
    assert audin.encode_audin(pdu) == data
    assert audin.decode_audin(data, from_server=from_server) == pdu


def test_client_formats_carry_their_size_and_extra_data() -> None:
    adpcm = audin.AudioFormat(audin.FormatTag.ADPCM, 1, 22050, 11155, 512, 4, bytes(range(32)))
    pdu = audin.Formats((PCM_44K_STEREO, adpcm), b"extra")
    data = audin.encode_audin(pdu)
    assert int.from_bytes(data[5:9], "little") == len(data) - 5  # cbSizeFormatsPacket: all but ExtraData
    assert audin.decode_audin(data) == pdu


@pytest.mark.parametrize(("data", "why"), [
    (b"", "MessageId"),
    (b"\x08", "unknown SNDIN MessageId"),
    (b"\x03" + bytes(26), "never sent by the client"),  # Open is the server's
    (b"\x04\x00\x00\x00", "Result"),
    (b"\x05\x00", "trailing"),
    (bytes.fromhex("02 01000000 00000000 0100 0100 80bb0000 00770100 0200 1000 0100"), "AUDIO_FORMAT data"),
    (bytes.fromhex("02 ffffffff 00000000"), "formats, over"),
    (bytes.fromhex("02 01000000 00000000 0100 0100 80bb0000 00770100 0200 1000 0108") + bytes(0x801), "cbSize"),
])
def test_malformed_pdus_are_the_clients_fault(data: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        audin.decode_audin(data)


def test_open_is_never_decoded_from_a_client_and_data_never_from_a_server() -> None:
    with pytest.raises(RemoteProtocolError, match="never sent by the server"):
        audin.decode_audin(b"\x06abc", from_server=True)


formats_st = st.builds(audin.AudioFormat, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
                       st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
                       st.binary(max_size=40))
client_pdus = st.one_of(
    st.builds(audin.Version, st.integers(0, 2**32 - 1)),
    st.builds(audin.Formats, st.lists(formats_st, max_size=6).map(tuple), st.binary(max_size=20)),
    st.builds(audin.OpenReply, st.integers(-2**31, 2**31 - 1)),
    st.just(audin.DataIncoming()),
    st.builds(audin.Data, st.binary(max_size=200)),
    st.builds(audin.FormatChange, st.integers(0, 2**32 - 1)),
)
server_pdus = st.one_of(
    st.builds(audin.Version, st.integers(0, 2**32 - 1)),
    st.builds(audin.Formats, st.lists(formats_st, max_size=6).map(tuple)),
    st.builds(audin.Open, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), formats_st),
    st.builds(audin.FormatChange, st.integers(0, 2**32 - 1)),
)


@PROFILE
@given(pdu=client_pdus)
def test_client_pdus_round_trip(pdu: audin.AudinPdu) -> None:
    assert audin.decode_audin(audin.encode_audin(pdu)) == pdu


@PROFILE
@given(pdu=server_pdus)
def test_server_pdus_round_trip(pdu: audin.AudinPdu) -> None:
    assert audin.decode_audin(audin.encode_audin(pdu), from_server=True) == pdu


@PROFILE
@given(data=st.binary(max_size=300), from_server=st.booleans())
def test_random_bytes_raise_only_remote_protocol_error(data: bytes, from_server: bool) -> None:
    try:
        pdu = audin.decode_audin(data, from_server=from_server)
    except RemoteProtocolError:
        return
    again = audin.encode_audin(pdu)  # decode -> encode -> decode is stable
    assert audin.decode_audin(again, from_server=from_server) == pdu


@PROFILE
@given(pdu=client_pdus, cut=st.integers(0, 400), flip=st.integers(0, 400))
def test_truncated_and_flipped_client_pdus(pdu: audin.AudinPdu, cut: int, flip: int) -> None:
    data = bytearray(audin.encode_audin(pdu))
    if data and flip < len(data) * 8:
        data[flip // 8] ^= 1 << (flip % 8)
    try:
        audin.decode_audin(bytes(data[:cut]))
    except RemoteProtocolError:
        pass


def test_values_out_of_range_are_our_error() -> None:
    with pytest.raises(LocalProtocolError):
        audin.encode_audin(audin.Version(2**32))
    with pytest.raises(LocalProtocolError):
        audin.encode_audin(audin.Formats((audin.AudioFormat(1, 1, 1, 1, 1, 1, bytes(2000)),)))


# -- the channel, in memory -------------------------------------------------------------------


def _send(client: MemoryClient, pdu: audin.AudinPdu | bytes) -> None:
    data = pdu if isinstance(pdu, bytes) else audin.encode_audin(pdu)
    for piece in dvc.split_message(AUDIN_ID, data):
        client.send_dvc(piece)


def _server_pdus(client: MemoryClient) -> list[object]:
    """What the server sent since the last look: SNDIN PDUs on the channel, and DVC Closes."""
    out: list[object] = []
    for pdu in client.pump():
        if isinstance(pdu, dvc.Data) and pdu.channel_id == AUDIN_ID:
            out.append(audin.decode_audin(pdu.data, from_server=True))
        elif isinstance(pdu, dvc.Close):
            out.append(pdu)
    return out


def _audio_input_open(*, flags: InfoFlags = InfoFlags.INFO_AUDIOCAPTURE) -> MemoryClient:
    client = connected(channels=("cliprdr", "drdynvc"), info_flags=flags)
    client.send_dvc(dvc.CapsResponse(3))
    assert dvc.CreateRequest(AUDIN_ID, audin.CHANNEL_NAME) in client.pump()
    client.send_dvc(dvc.CreateResponse(AUDIN_ID, 0))
    assert _server_pdus(client) == [audin.Version(1)]
    client.server.events()
    return client


def _negotiated(client_formats: tuple[audin.AudioFormat, ...] = (PCM_44K_STEREO, ALAW, PCM_48K_STEREO)) \
        -> MemoryClient:
    """Opened as FreeRDP does it: Version, Incoming Data + Formats, then Format Change + Open Reply."""
    client = _audio_input_open()
    _send(client, audin.Version(1))
    assert _server_pdus(client) == [audin.Formats(OFFERED)]
    _send(client, audin.DataIncoming())
    _send(client, audin.Formats(client_formats))
    return client


def test_the_channel_is_asked_for_only_when_the_client_captures_audio() -> None:
    client = connected(channels=("cliprdr", "drdynvc"))
    client.send_dvc(dvc.CapsResponse(3))
    names = [p.name for p in client.pump() if isinstance(p, dvc.CreateRequest)]
    assert audin.CHANNEL_NAME not in names and names  # the others still are


def test_stereo_capture_becomes_mono_audio_for_the_desktop() -> None:
    client = _negotiated()
    (open_pdu,) = _server_pdus(client)
    assert open_pdu == audin.Open(FRAMES_PER_PACKET, 2, PCM_48K_STEREO)  # mono not offered by this client
    _send(client, audin.FormatChange(2))
    _send(client, audin.OpenReply(0))
    stereo = np.array([[1000, 3000], [-200, -400], [32767, 32767], [-32768, -32768]], dtype="<i2")
    _send(client, audin.DataIncoming())
    _send(client, audin.Data(stereo.tobytes()))
    (event,) = client.server.events()
    assert isinstance(event, events.MicrophoneAudio)
    assert np.frombuffer(event.pcm, "<i2").tolist() == [2000, -300, 32767, -32768]
    # A long packet in DVC pieces (Data First + Data) arrives whole.
    big = np.arange(-4800, 4800, dtype="<i2").repeat(2)
    _send(client, audin.Data(big.tobytes()))
    (event,) = client.server.events()
    assert np.frombuffer(event.pcm, "<i2").tolist() == list(range(-4800, 4800))
    assert _server_pdus(client) == []


def test_mono_is_preferred_and_taken_as_is() -> None:
    client = _negotiated((PCM_48K_STEREO, PCM_48K_MONO))
    assert _server_pdus(client) == [audin.Open(FRAMES_PER_PACKET, 1, PCM_48K_MONO)]
    # Packets before the client's Format Change are in the format it was asked to open.
    _send(client, audin.Data(b"\x01\x00\x02\x00"))
    _send(client, audin.FormatChange(1))
    _send(client, audin.OpenReply(0))
    assert client.server.events() == [events.MicrophoneAudio(b"\x01\x00\x02\x00")]


def _closed_only_the_channel(client: MemoryClient) -> None:
    assert _server_pdus(client) == [dvc.Close(AUDIN_ID)]
    assert client.server.events() == []
    # What the client still had in flight is ignored; its Close answers ours; the connection lives.
    _send(client, audin.Data(b"\x00\x00"))
    client.send_dvc(dvc.Close(AUDIN_ID))
    assert not client.server.closed
    assert client.server.events() == []


@pytest.mark.parametrize("bad", [
    audin.FormatChange(0),  # 44.1 kHz: the client's own, never offered
    audin.FormatChange(1),  # A-law
    audin.FormatChange(7),  # past the client's list
    b"\x09\x00",  # no such MessageId
    b"\x07\x01",  # truncated Format Change
    audin.Data(b"\x00\x00\x00"),  # not whole stereo frames
    audin.Version(1),  # out of turn
])
def test_a_bad_pdu_once_open_closes_only_the_channel(bad: audin.AudinPdu | bytes) -> None:
    client = _negotiated()
    _server_pdus(client)
    _send(client, audin.FormatChange(2))
    _send(client, audin.OpenReply(0))
    _send(client, bad)
    _closed_only_the_channel(client)


def test_a_client_with_none_of_the_offered_formats_is_closed() -> None:
    client = _negotiated((PCM_44K_STEREO, ALAW))
    _closed_only_the_channel(client)


def test_audio_before_the_channel_opens_closes_it() -> None:
    client = _audio_input_open()
    _send(client, audin.Data(b"\x00\x00"))
    _closed_only_the_channel(client)


def test_a_failed_open_closes_the_channel() -> None:
    client = _negotiated()
    _server_pdus(client)
    _send(client, audin.OpenReply(-2147467259))
    _closed_only_the_channel(client)
