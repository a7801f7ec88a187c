"""rdpsnd PDUs ([MS-RDPEA]) and the sound channels' rules: round trips, property tests, a
client that never confirms, formats it never offered, malformed PDUs; which channel carries the
sound (AUDIO_PLAYBACK_DVC or rdpsnd), driven in memory through whole connections."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdpfront import dvc, rdpsnd
from rdpfront.bridge import server_connection
from rdpfront.channels.registry import PLAYBACK_CHANNEL_ID
from rdpfront.channels.sound import (
    MAX_IN_FLIGHT,
    OFFERED,
    AudioPlaybackChannel,
    SoundChannel,
    SoundReady,
    playing_channel,
    sound_disabled_channels,
)
from rdpfront.errors import RemoteProtocolError
from rdpfront.settings import ServerSettings
from rdpfront.svc import chunk_message

from .helpers import MemoryClient

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
    """What the channel sees of the active session: what it writes and emits (no other channels)."""

    log_context = "test"
    dynamic_registry: dict = {}
    disabled_channels = frozenset()

    def channel(self, name: str) -> None:
        return None

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


# -- which channel carries the sound, in memory through whole connections --------------------

PCM48 = rdpsnd.AudioFormat.pcm(48000)
FREERDP_CHANNELS = ("cliprdr", "drdynvc", "rdpsnd")  # what xfreerdp /sound joins (rdpdr aside)


class Client(MemoryClient):
    """A client joined to rdpsnd and drdynvc that sorts what the server sends: rdpsnd PDUs by
    channel ("rdpsnd", or "dvc" for AUDIO_PLAYBACK_DVC), and DVC Create Requests and Closes."""

    def __init__(self, transport: str = "auto") -> None:
        super().__init__(server=server_connection(ServerSettings(sound_transport=transport)))
        self.pieces = dvc.DvcReassembler()

    def sound(self, data: bytes | None = None) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        for pdu in self.pump(data):
            if isinstance(pdu, rdpsnd.AudioFormats | rdpsnd.Training | rdpsnd.Wave2 | rdpsnd.WaveInfo):
                out.append(("rdpsnd", pdu))
            elif isinstance(pdu, dvc.DataFirst | dvc.Data) and pdu.channel_id == PLAYBACK_CHANNEL_ID:
                whole = self.pieces.push(pdu)
                if whole is not None:
                    out.append(("dvc", rdpsnd.decode(whole)))
            elif isinstance(pdu, dvc.CreateRequest | dvc.Close):
                out.append(("drdynvc", pdu))
        return out

    def send_playback(self, pdu: rdpsnd.RdpsndPdu | bytes) -> None:
        data = pdu if isinstance(pdu, bytes) else rdpsnd.encode(pdu)
        for piece in dvc.split_message(PLAYBACK_CHANNEL_ID, data):
            self.send_dvc(piece)

    def send_rdpsnd(self, pdu: rdpsnd.RdpsndPdu) -> None:
        for chunk in chunk_message(rdpsnd.encode(pdu)):
            self.send_io(chunk, self.channel_ids["rdpsnd"])


def _connected(transport: str = "auto", channels: tuple[str, ...] = FREERDP_CHANNELS) -> Client:
    client = Client(transport)
    client.connect(channels=channels)
    return client


def _asked(client: Client) -> list[str]:
    """The client answers the DVC capabilities: the names of the channels it is then asked for."""
    client.send_dvc(dvc.CapsResponse(3))
    return [pdu.name for _, pdu in client.sound() if isinstance(pdu, dvc.CreateRequest)]


def _train(client: Client, where: str, version: int = 8) -> None:
    """The client's formats (PCM 48 kHz) and Training Confirm on ``where``."""
    send = client.send_playback if where == "dvc" else client.send_rdpsnd
    send(rdpsnd.AudioFormats((PCM48,), version=version, flags=1))
    send(rdpsnd.QualityMode(2))
    assert client.sound() == [(where, rdpsnd.Training(0))]
    send(rdpsnd.Training(0))
    assert SoundReady(48000, "pcm") in client.server.events()


def test_a_client_that_opens_audio_playback_dvc_gets_its_sound_there_and_none_on_rdpsnd():
    client = _connected()
    assert rdpsnd.AudioFormats(OFFERED) not in client.received  # rdpsnd waits for the dynamic channel's answer
    assert rdpsnd.DVC_NAME in _asked(client)
    client.send_dvc(dvc.CreateResponse(PLAYBACK_CHANNEL_ID, 0))
    assert client.sound() == [("dvc", rdpsnd.AudioFormats(OFFERED))]
    _train(client, "dvc")
    playing = playing_channel(client.server.channel)
    assert isinstance(playing, AudioPlaybackChannel)
    # 10 ms of 48 kHz stereo is more than one DVC PDU: Data First + Data, one Wave2 (never Wave Info).
    assert client.sound(playing.wave(b"\1\2" * 960, 1234)) == [("dvc", rdpsnd.Wave2(1234, 0, 0, 1234, b"\1\2" * 960))]
    client.send_playback(rdpsnd.WaveConfirm(1234, 0))
    assert playing.in_flight == {} and playing.sent == playing.confirmed == 1
    static = client.server.channel(rdpsnd.CHANNEL_NAME)
    assert isinstance(static, SoundChannel) and not static.offered and not static.ready


def test_a_client_without_the_dynamic_listener_gets_its_sound_on_rdpsnd():
    client = _connected()
    assert rdpsnd.DVC_NAME in _asked(client)
    client.send_dvc(dvc.CreateResponse(PLAYBACK_CHANNEL_ID, -2147467259))  # E_FAIL: FreeRDP without /sound
    assert client.sound() == [("rdpsnd", rdpsnd.AudioFormats(OFFERED))]
    _train(client, "rdpsnd")
    playing = playing_channel(client.server.channel)
    assert isinstance(playing, SoundChannel)
    assert client.sound(playing.wave(b"\0\1" * 960, 7)) == [("rdpsnd", rdpsnd.Wave2(7, 0, 0, 7, b"\0\1" * 960))]


def test_a_dynamic_channel_client_below_version_8_is_closed_and_played_to_on_rdpsnd(caplog):
    caplog.set_level(logging.INFO)
    client = _connected()
    _asked(client)
    client.send_dvc(dvc.CreateResponse(PLAYBACK_CHANNEL_ID, 0))
    client.sound()
    client.send_playback(rdpsnd.AudioFormats((PCM48,), version=6, flags=1))
    # Wave Info + Wave are static-channel only, so the dynamic channel has no wave for it.
    assert client.sound() == [("drdynvc", dvc.Close(PLAYBACK_CHANNEL_ID)),
                              ("rdpsnd", rdpsnd.AudioFormats(OFFERED))]
    assert "no Wave2" in caplog.text
    client.send_dvc(dvc.Close(PLAYBACK_CHANNEL_ID))  # the client's answer to the close
    _train(client, "rdpsnd", version=6)
    playing = playing_channel(client.server.channel)
    assert isinstance(playing, SoundChannel)
    wave = playing.wave(b"abcdefgh", 9)  # Wave Info, then the headerless Wave
    assert rdpsnd.encode(rdpsnd.WaveInfo(9, 0, 0, b"abcd"), body_size=20) in wave and b"\0\0\0\0efgh" in wave


def test_a_malformed_pdu_on_the_dynamic_channel_closes_that_channel_only(caplog):
    client = _connected()
    _asked(client)
    client.send_dvc(dvc.CreateResponse(PLAYBACK_CHANNEL_ID, 0))
    client.sound()
    client.send_playback(bytes.fromhex("ee000000"))
    assert client.sound() == [("drdynvc", dvc.Close(PLAYBACK_CHANNEL_ID))]
    assert "AUDIO_PLAYBACK_DVC closed" in caplog.text and not client.server.closed
    client.send_playback(rdpsnd.Training(0))  # in flight before the client saw the close: ignored
    assert client.sound() == [] and not client.server.closed
    assert playing_channel(client.server.channel) is None


def test_a_client_without_drdynvc_gets_rdpsnd_at_once():
    client = _connected(channels=("cliprdr", "rdpsnd"))
    assert rdpsnd.AudioFormats(OFFERED) in client.received  # sent once active


@pytest.mark.parametrize(("transport", "dynamic", "static"), [
    ("static", False, True),  # rdpsnd only: offered at once, the dynamic channel never asked for
    ("dvc", True, False),  # AUDIO_PLAYBACK_DVC only: no rdpsnd plug-in at all
])
def test_the_sound_transport_setting_holds_a_server_to_one_channel(transport, dynamic, static):
    client = _connected(transport)
    assert (rdpsnd.AudioFormats(OFFERED) in client.received) is static
    assert (rdpsnd.DVC_NAME in _asked(client)) is dynamic
    assert (client.server.channel(rdpsnd.CHANNEL_NAME) is not None) is static
    if dynamic:
        client.send_dvc(dvc.CreateResponse(PLAYBACK_CHANNEL_ID, -1))
        assert client.sound() == []  # refused, and nothing to fall back on


def test_an_unknown_sound_transport_is_refused():
    with pytest.raises(ValueError, match="sound transport"):
        sound_disabled_channels("udp")


def test_a_client_pdu_on_rdpsnd_before_the_server_offered_is_a_protocol_error():
    client = _connected()
    with pytest.raises(RemoteProtocolError, match="before the server offered"):
        client.send_rdpsnd(rdpsnd.AudioFormats((PCM48,)))


@given(st.lists(st.one_of(st.binary(max_size=40), pdus.map(rdpsnd.encode)), max_size=6))
def test_whatever_a_client_sends_on_audio_playback_dvc_never_ends_the_connection(messages):
    client = _connected()
    _asked(client)
    client.send_dvc(dvc.CreateResponse(PLAYBACK_CHANNEL_ID, 0))
    client.sound()
    for message in messages:
        client.send_playback(message)
    client.sound()
    assert not client.server.closed
    playing = client.server.channel(rdpsnd.DVC_NAME)
    assert isinstance(playing, AudioPlaybackChannel)
    # Either it still follows the protocol, or it was closed and plays nothing.
    assert playing.wave(b"\0" * 1920, 0) == b"" or playing.ready
