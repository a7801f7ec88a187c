"""Audio output ([MS-RDPEA]): the desktop's sound to the client, on the static channel "rdpsnd"
(``SoundChannel``) or the dynamic channel "AUDIO_PLAYBACK_DVC" (``AudioPlaybackChannel``).

Both run one state machine, ``Playback``; only the carrier differs. The server offers its
formats (AAC 48 kHz, PCM 48 kHz and 44.1 kHz, 16-bit stereo: what the host's ``aac`` and
``pcm`` streams give); the client answers with the ones it can play, in an order of its own
whose indexes the waves name. The first of ours it lists is chosen (``choose_format``), a
Training PDU is sent, and at its confirmation ``SoundReady`` asks the bridge for the host's
stream. A client that lists none of ours gets no sound (logged): the server never sends a
format the client did not offer.

Waves (Wave2 from version 8; Wave Info + Wave before, on the static channel only) carry each
packet. Latency stays bounded: at most ``MAX_IN_FLIGHT`` waves may wait for their Wave
Confirm; past that a packet is dropped (counted, logged once per run of drops) rather than
queued, so a client that never confirms costs at most that many waves and nothing grows.

Which channel carries the sound ([MS-RDPEA] 3.1.3, as Windows 8 and later do): the dynamic
one when the client opens it, the static one otherwise. While the dynamic channel is being
asked for, the static channel stays quiet; if the client refuses it (no listener, as FreeRDP
without ``/sound``), or it answers below version 8 (Wave2 is the only wave PDU of the dynamic
channel), the static channel starts. ``ServerSettings.sound_transport`` can hold a server to
one of the two (by not serving the other).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from rdpfront import dvc, rdpsnd
from rdpfront.channels.base import ChannelHost, DynamicChannel, StaticChannel
from rdpfront.errors import RemoteProtocolError
from rdpfront.events import SoundReady

log = logging.getLogger(__name__)

AAC_BIT_RATE = 128000  # compositor.encoders.audio.AAC_BITRATE: what the host's aac stream carries
OFFERED = (rdpsnd.AudioFormat.aac(48000, AAC_BIT_RATE), rdpsnd.AudioFormat.pcm(48000), rdpsnd.AudioFormat.pcm(44100))
STREAM_FORMAT = {rdpsnd.WAVE_FORMAT_AAC_MS: "aac", rdpsnd.WAVE_FORMAT_PCM: "pcm"}  # the host's stream per tag
MAX_IN_FLIGHT = 16  # 160 ms of 10 ms waves unconfirmed at most
CONFIRM_TIMEOUT_MS = 2000
WAVE2_VERSION = 8  # Wave2 needs both sides at 8 or later


def choose_format(client: tuple[rdpsnd.AudioFormat, ...]) -> int | None:
    """The index, in the client's list, of the first format we offer that it has."""
    for ours in OFFERED:
        for index, theirs in enumerate(client):
            if (theirs.format_tag, theirs.channels, theirs.samples_per_sec, theirs.bits_per_sample) == \
                    (ours.format_tag, ours.channels, ours.samples_per_sec, ours.bits_per_sample):
                return index
    return None


class Playback:
    """The [MS-RDPEA] server state machine over whichever channel the subclass is: it offers,
    trains, and turns host packets into waves, writing through the channel's ``encode``."""

    host: ChannelHost
    name: ClassVar[str]
    wave_info: ClassVar[bool]  # whether Wave Info + Wave may carry audio (static channel only)
    encode: Callable[[bytes], bytes]

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[call-arg]
        self.client_formats: tuple[rdpsnd.AudioFormat, ...] = ()
        self.format_no: int | None = None
        self.client_version = 0
        self.ready = False
        self.offered = False
        self.block_no = 0
        self.in_flight: dict[int, int] = {}  # block number -> when it was sent (ms)
        self.sent = 0
        self.confirmed = 0  # waves the client confirmed while they were in flight
        self.dropped = 0
        self._dropping = False

    @property
    def rate(self) -> int | None:
        return self.client_formats[self.format_no].samples_per_sec if self.format_no is not None else None

    @property
    def stream_format(self) -> str | None:
        """The host's audio stream this client plays: ``aac`` or ``pcm``."""
        return STREAM_FORMAT[self.client_formats[self.format_no].format_tag] if self.format_no is not None else None

    def offer(self) -> None:
        """Server Audio Formats and Version: the first message of the protocol."""
        self.offered = True
        self.host.write(self._send(rdpsnd.AudioFormats(OFFERED)))

    def receive(self, message: bytes) -> None:
        pdu = rdpsnd.decode(message)
        log.debug("%s %s <- %s", self.host.log_context, self.name, pdu)
        if not self.offered:
            raise RemoteProtocolError(f"{self.name}: {type(pdu).__name__} before the server offered its formats")
        if isinstance(pdu, rdpsnd.AudioFormats):
            self.client_formats = pdu.formats
            self.client_version = pdu.version
            if not self.wave_info and pdu.version < WAVE2_VERSION:
                self._unplayable(f"client version {pdu.version} has no Wave2, and Wave Info is static-channel only")
                return
            self.format_no = choose_format(pdu.formats)
            if self.format_no is None:
                log.info("%s %s: the client takes none of our formats (%s): no sound", self.host.log_context,
                         self.name, [(f.format_tag, f.samples_per_sec, f.channels, f.bits_per_sample)
                                     for f in pdu.formats])
                return
            self.host.write(self._send(rdpsnd.Training(timestamp=0)))
        elif isinstance(pdu, rdpsnd.QualityMode):
            pass
        elif isinstance(pdu, rdpsnd.Training):
            if self.format_no is None:
                raise RemoteProtocolError(f"{self.name}: Training Confirm before any format was agreed")
            if not self.ready:
                self.ready = True
                log.info("%s %s: client ready, %s %d Hz (format %d of its %d), version %d", self.host.log_context,
                         self.name, self.stream_format, self.rate, self.format_no, len(self.client_formats),
                         self.client_version)
                self.host.emit(SoundReady(self.rate, self.stream_format))
        elif isinstance(pdu, rdpsnd.WaveConfirm):
            if self.in_flight.pop(pdu.block_no, None) is not None:
                self.confirmed += 1
        else:
            raise RemoteProtocolError(f"{self.name}: a client does not send {type(pdu).__name__}")

    def _unplayable(self, reason: str) -> None:
        """The client answered, but this channel cannot carry its sound."""
        log.info("%s %s: %s: no sound on this channel", self.host.log_context, self.name, reason)

    def wave(self, data: bytes, now_ms: int) -> bytes:
        """One packet of the host's stream (``stream_format``) for the client; b"" when it is dropped."""
        if not self.ready or self.format_no is None:
            return b""
        # A wave the client never confirmed is forgotten after CONFIRM_TIMEOUT_MS: the count
        # of waves in flight measures the client's current backlog, not its past losses.
        self.in_flight = {b: t for b, t in self.in_flight.items() if now_ms - t < CONFIRM_TIMEOUT_MS}
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("%s %s: %d waves unconfirmed: dropping sound until the client confirms",
                            self.host.log_context, self.name, len(self.in_flight))
            return b""
        if self._dropping:
            self._dropping = False
            log.info("%s %s: the client confirms again (dropped %d waves so far)", self.host.log_context, self.name,
                     self.dropped)
        block = self.block_no
        self.block_no = (self.block_no + 1) & 0xFF
        timestamp = now_ms & 0xFFFF
        self.in_flight[block] = now_ms
        self.sent += 1
        messages = rdpsnd.encode_wave(timestamp, self.format_no, block, data,
                                      wave2=self.client_version >= WAVE2_VERSION,
                                      audio_timestamp=now_ms & 0xFFFFFFFF)
        return b"".join(self.encode(m) for m in messages)

    def _send(self, pdu: rdpsnd.RdpsndPdu) -> bytes:
        log.debug("%s %s -> %s", self.host.log_context, self.name, pdu)
        return self.encode(rdpsnd.encode(pdu))


def _dvc_asked_for(host: ChannelHost) -> bool:
    """Whether this client will be asked for AUDIO_PLAYBACK_DVC (it joined drdynvc and the
    server serves the dynamic channel)."""
    return (host.channel(dvc.CHANNEL_NAME) is not None and rdpsnd.DVC_NAME in host.dynamic_registry
            and rdpsnd.DVC_NAME not in host.disabled_channels
            and host.dynamic_registry[rdpsnd.DVC_NAME].wanted(host))


class SoundChannel(Playback, StaticChannel):
    """The static channel "rdpsnd": used when the dynamic channel is not."""

    name = rdpsnd.CHANNEL_NAME
    max_message = 64 * 1024
    wave_info = True

    def start(self) -> None:
        if _dvc_asked_for(self.host):
            log.debug("%s rdpsnd: waiting for the client's answer to %s", self.host.log_context, rdpsnd.DVC_NAME)
            return
        self.offer()

    def take_over(self, reason: str) -> None:
        """The dynamic channel will not carry the sound: this channel does."""
        if not self.offered:
            log.info("%s sound on the static channel rdpsnd: %s", self.host.log_context, reason)
            self.offer()


class AudioPlaybackChannel(Playback, DynamicChannel):
    """The dynamic channel "AUDIO_PLAYBACK_DVC": preferred when the client opens it. A malformed
    PDU on it is logged and closes this channel only."""

    name = rdpsnd.DVC_NAME
    wave_info = False

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.failed = False

    def opened(self) -> None:
        log.info("%s sound on the dynamic channel %s", self.host.log_context, self.name)
        self.offer()

    def refused(self) -> None:
        self._fall_back("the client has no AUDIO_PLAYBACK_DVC")

    def _unplayable(self, reason: str) -> None:
        super()._unplayable(reason)
        self._close()
        self._fall_back(reason)

    def _fall_back(self, reason: str) -> None:
        static = self.host.channel(rdpsnd.CHANNEL_NAME)
        if isinstance(static, SoundChannel):
            static.take_over(reason)

    def receive(self, message: bytes) -> None:
        if self.failed:
            return  # in flight before the client saw our close
        try:
            super().receive(message)
        except RemoteProtocolError as exc:
            log.warning("%s %s closed: %s", self.host.log_context, self.name, exc)
            self._close()

    def _close(self) -> None:
        self.failed = True
        self.ready = False
        self.host.write(self.drdynvc.encode(dvc.encode_dvc(dvc.Close(self.channel_id))))

    def wave(self, data: bytes, now_ms: int) -> bytes:
        return super().wave(data, now_ms) if self.open and not self.failed else b""

    def closed(self) -> None:
        if not self.failed:
            log.info("%s %s closed by the client after %d waves", self.host.log_context, self.name, self.sent)
        self.failed = True
        self.ready = False


SOUND_TRANSPORTS = ("auto", "static", "dvc")


def sound_disabled_channels(transport: str) -> frozenset[str]:
    """The sound channels a server with ``ServerSettings.sound_transport`` does not serve:
    ``auto`` serves both (the dynamic one first), ``static`` only rdpsnd, ``dvc`` only
    AUDIO_PLAYBACK_DVC (a client without it gets no sound)."""
    if transport not in SOUND_TRANSPORTS:
        raise ValueError(f"sound transport must be one of {', '.join(SOUND_TRANSPORTS)}, not {transport!r}")
    return {"auto": frozenset(), "static": frozenset({rdpsnd.DVC_NAME}),
            "dvc": frozenset({rdpsnd.CHANNEL_NAME})}[transport]


def playing_channel(channel: Callable[[str], object]) -> Playback | None:
    """The channel that plays the desktop's sound for a client, given its channel lookup
    (``RdpConnection.channel``): the first ready of the dynamic and the static channel."""
    for name in (rdpsnd.DVC_NAME, rdpsnd.CHANNEL_NAME):
        found = channel(name)
        if isinstance(found, Playback) and found.ready:
            return found
    return None
