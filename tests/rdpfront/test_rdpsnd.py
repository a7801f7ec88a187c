"""rdpsnd PDUs ([MS-RDPEA]) and the sound channel's rules: round trips, property tests, a
client that never confirms, formats it never offered, malformed PDUs."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdpfront import rdpsnd
from rdpfront.channels.sound import MAX_IN_FLIGHT, SoundChannel, SoundReady
from rdpfront.errors import RemoteProtocolError

formats = st.builds(rdpsnd.AudioFormat, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
                    st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=8))
pdus = st.one_of(
    st.builds(rdpsnd.AudioFormats, st.tuples(formats, formats), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1)),
    st.builds(rdpsnd.QualityMode, st.integers(0, 2)),
    st.builds(rdpsnd.Training, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(rdpsnd.Wave2, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 255),
              st.integers(0, 2**32 - 1), st.binary(max_size=64)),
    st.builds(rdpsnd.WaveConfirm, st.integers(0, 0xFFFF), st.integers(0, 255)),
    st.just(rdpsnd.Close()),
)


@given(pdus)
def test_every_pdu_round_trips(pdu):
    data = rdpsnd.encode(pdu)
    assert rdpsnd.decode(data) == pdu
    assert rdpsnd.encode(rdpsnd.decode(data)) == data


@given(st.binary(max_size=120))
def test_any_bytes_decode_or_raise_remote_protocol_error(data):
    try:
        rdpsnd.decode(data)
    except RemoteProtocolError:
        pass


def test_known_bytes_of_the_server_formats_and_a_wave_confirm():
    data = rdpsnd.encode(rdpsnd.AudioFormats((rdpsnd.AudioFormat.pcm(48000),)))
    assert data.hex() == ("07002600" "000000000000000000000000" "0000" "0100" "00" "0800" "00"
                          "0100" "0200" "80bb0000" "00ee0200" "0400" "1000" "0000")
    assert rdpsnd.decode(bytes.fromhex("050004003412" "07" "00")) == rdpsnd.WaveConfirm(0x1234, 7)


def test_wave_info_and_wave_carry_a_block_for_old_clients():
    info, wave = rdpsnd.encode_wave(5, 1, 2, b"abcdefgh", wave2=False)
    assert rdpsnd.decode(info) == rdpsnd.WaveInfo(5, 1, 2, b"abcd")
    assert int.from_bytes(info[2:4], "little") == 12 + 8 and wave == b"\0\0\0\0efgh"


class Session:
    """What the channel sees of the active session: what it writes and emits."""

    log_context = "test"

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.emitted: list[object] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def emit(self, event: object) -> None:
        self.emitted.append(event)


def ready_channel(client_formats) -> tuple[SoundChannel, Session]:
    session = Session()
    channel = SoundChannel(session, 1005)
    channel.encode = lambda message: message  # the PDU itself, without the MCS framing
    channel.start()
    offered = rdpsnd.decode(session.written[0]).formats
    assert offered[0].format_tag == rdpsnd.WAVE_FORMAT_AAC_MS and offered[1] == rdpsnd.AudioFormat.pcm(48000)
    channel.receive(rdpsnd.encode(rdpsnd.AudioFormats(tuple(client_formats), version=8)))
    return channel, session


def test_the_first_of_our_formats_the_client_takes_is_trained_and_used():
    theirs = (rdpsnd.AudioFormat(0x11, 2, 22050, 22311, 2048, 4), rdpsnd.AudioFormat.pcm(44100))
    channel, session = ready_channel(theirs)
    assert rdpsnd.decode(session.written[-1]) == rdpsnd.Training(0)
    channel.receive(rdpsnd.encode(rdpsnd.Training(0)))
    assert session.emitted == [SoundReady(44100, "pcm")]
    wave = rdpsnd.decode(channel.wave(b"\1\2" * 882, 1000))
    assert isinstance(wave, rdpsnd.Wave2) and wave.format_no == 1  # the client's index


def test_aac_is_chosen_where_the_client_decodes_it_and_pcm_is_the_fallback():
    aac = rdpsnd.AudioFormat.aac(48000, 128000)
    channel, session = ready_channel((rdpsnd.AudioFormat.pcm(48000), rdpsnd.AudioFormat.pcm(44100), aac))
    channel.receive(rdpsnd.encode(rdpsnd.Training(0)))
    assert session.emitted == [SoundReady(48000, "aac")] and channel.stream_format == "aac"
    wave = rdpsnd.decode(channel.wave(b"\xff\xf1" + bytes(300), 1000))
    assert isinstance(wave, rdpsnd.Wave2) and wave.format_no == 2
    # The same client without AAC (an xfreerdp built without FFmpeg) gets PCM.
    channel, session = ready_channel((rdpsnd.AudioFormat.pcm(44100), rdpsnd.AudioFormat.pcm(48000)))
    channel.receive(rdpsnd.encode(rdpsnd.Training(0)))
    assert session.emitted == [SoundReady(48000, "pcm")] and channel.format_no == 1
    # An AAC entry at another rate than the host's stream is not ours.
    channel, session = ready_channel((rdpsnd.AudioFormat.aac(44100, 128000), rdpsnd.AudioFormat.pcm(44100)))
    channel.receive(rdpsnd.encode(rdpsnd.Training(0)))
    assert session.emitted == [SoundReady(44100, "pcm")]


def test_a_client_offering_none_of_our_formats_gets_no_sound(caplog):
    caplog.set_level(logging.INFO)
    channel, session = ready_channel((rdpsnd.AudioFormat.pcm(22050, channels=1),))
    assert len(session.written) == 1  # no Training
    assert "none of our formats" in caplog.text
    assert channel.wave(b"\0" * 1920, 0) == b""
    with pytest.raises(RemoteProtocolError, match="before any format"):
        channel.receive(rdpsnd.encode(rdpsnd.Training(0)))


def test_a_client_that_never_confirms_costs_a_bounded_number_of_waves(caplog):
    channel, session = ready_channel((rdpsnd.AudioFormat.pcm(48000),))
    channel.receive(rdpsnd.encode(rdpsnd.Training(0)))
    sent = [channel.wave(b"\0\1" * 960, 10 * i) for i in range(100)]
    assert sum(1 for s in sent if s) == MAX_IN_FLIGHT
    assert channel.dropped == 100 - MAX_IN_FLIGHT and len(channel.in_flight) == MAX_IN_FLIGHT
    assert caplog.text.count("dropping sound") == 1  # one line per run of drops
    # Confirms make room again.
    for block in range(4):
        channel.receive(rdpsnd.encode(rdpsnd.WaveConfirm(0, block)))
    assert channel.wave(b"\0\1" * 960, 1000)
    # Waves never confirmed are forgotten after a while: the channel does not stay mute.
    assert channel.wave(b"\0\1" * 960, 5000) and len(channel.in_flight) == 1


@pytest.mark.parametrize("data", [
    b"\x07\x00",  # shorter than the header
    bytes.fromhex("0d000400") + b"\0" * 4,  # a Wave2 from the client
    bytes.fromhex("07000200") + b"\0\0",  # formats cut short
    bytes.fromhex("ee000000"),  # unknown type
    bytes.fromhex("05000500") + b"\0" * 4,  # BodySize says 5, 4 follow
])
def test_malformed_pdus_raise_remote_protocol_error(data):
    channel, _ = ready_channel((rdpsnd.AudioFormat.pcm(48000),))
    with pytest.raises(RemoteProtocolError):
        channel.receive(data)
