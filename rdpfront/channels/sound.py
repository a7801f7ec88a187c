"""Audio output on the static channel "rdpsnd" ([MS-RDPEA]): the desktop's sound to the client.

Once active the server offers its formats (PCM 48 kHz and 44.1 kHz, 16-bit stereo: what the
host's ``pcm`` stream gives); the client answers with the ones it can play, in an order of its
own whose indexes the waves name. The first of ours it lists is chosen (``choose_format``), a
Training PDU is sent, and at its confirmation ``SoundReady`` asks the bridge for the host's
``pcm`` stream at that rate. A client that lists none of ours gets no sound (logged): the
server never sends a format the client did not offer.

Waves (Wave2 from version 8, Wave Info + Wave before) carry each 10 ms packet. Latency stays
bounded: at most ``MAX_IN_FLIGHT`` waves may wait for their Wave Confirm; past that a packet is
dropped (counted, logged once per run of drops) rather than queued, so a client that never
confirms costs at most that many waves and nothing grows.
"""

from __future__ import annotations

import logging

from rdpfront import rdpsnd
from rdpfront.channels.base import StaticChannel
from rdpfront.errors import RemoteProtocolError
from rdpfront.events import SoundReady

log = logging.getLogger(__name__)

AAC_BIT_RATE = 128000  # compositor.encoders.audio.AAC_BITRATE: what the host's aac stream carries
OFFERED = (rdpsnd.AudioFormat.aac(48000, AAC_BIT_RATE), rdpsnd.AudioFormat.pcm(48000), rdpsnd.AudioFormat.pcm(44100))
STREAM_FORMAT = {rdpsnd.WAVE_FORMAT_AAC_MS: "aac", rdpsnd.WAVE_FORMAT_PCM: "pcm"}  # the host's stream per tag
MAX_IN_FLIGHT = 16  # 160 ms of 10 ms waves unconfirmed at most
CONFIRM_TIMEOUT_MS = 2000


def choose_format(client: tuple[rdpsnd.AudioFormat, ...]) -> int | None:
    """The index, in the client's list, of the first format we offer that it has."""
    for ours in OFFERED:
        for index, theirs in enumerate(client):
            if (theirs.format_tag, theirs.channels, theirs.samples_per_sec, theirs.bits_per_sample) == \
                    (ours.format_tag, ours.channels, ours.samples_per_sec, ours.bits_per_sample):
                return index
    return None


class SoundChannel(StaticChannel):
    name = rdpsnd.CHANNEL_NAME
    max_message = 64 * 1024

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.client_formats: tuple[rdpsnd.AudioFormat, ...] = ()
        self.format_no: int | None = None
        self.client_version = 0
        self.ready = False
        self.block_no = 0
        self.in_flight: dict[int, int] = {}  # block number -> when it was sent (ms)
        self.sent = 0
        self.dropped = 0
        self._dropping = False

    @property
    def rate(self) -> int | None:
        return self.client_formats[self.format_no].samples_per_sec if self.format_no is not None else None

    @property
    def stream_format(self) -> str | None:
        """The host's audio stream this client plays: ``aac`` or ``pcm``."""
        return STREAM_FORMAT[self.client_formats[self.format_no].format_tag] if self.format_no is not None else None

    def start(self) -> None:
        self.host.write(self._send(rdpsnd.AudioFormats(OFFERED)))

    def receive(self, message: bytes) -> None:
        pdu = rdpsnd.decode(message)
        log.debug("%s rdpsnd <- %s", self.host.log_context, pdu)
        if isinstance(pdu, rdpsnd.AudioFormats):
            self.client_formats = pdu.formats
            self.client_version = pdu.version
            self.format_no = choose_format(pdu.formats)
            if self.format_no is None:
                log.info("%s rdpsnd: the client takes none of our formats (%s): no sound",
                         self.host.log_context, [(f.format_tag, f.samples_per_sec, f.channels, f.bits_per_sample)
                                                 for f in pdu.formats])
                return
            self.host.write(self._send(rdpsnd.Training(timestamp=0)))
        elif isinstance(pdu, rdpsnd.QualityMode):
            pass
        elif isinstance(pdu, rdpsnd.Training):
            if self.format_no is None:
                raise RemoteProtocolError("rdpsnd: Training Confirm before any format was agreed")
            if not self.ready:
                self.ready = True
                log.info("%s rdpsnd: client ready, %s %d Hz (format %d of its %d), version %d",
                         self.host.log_context, self.stream_format, self.rate, self.format_no,
                         len(self.client_formats), self.client_version)
                self.host.emit(SoundReady(self.rate, self.stream_format))
        elif isinstance(pdu, rdpsnd.WaveConfirm):
            self.in_flight.pop(pdu.block_no, None)
        else:
            raise RemoteProtocolError(f"rdpsnd: a client does not send {type(pdu).__name__}")

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
                log.warning("%s rdpsnd: %d waves unconfirmed: dropping sound until the client confirms",
                            self.host.log_context, len(self.in_flight))
            return b""
        if self._dropping:
            self._dropping = False
            log.info("%s rdpsnd: the client confirms again (dropped %d waves so far)", self.host.log_context,
                     self.dropped)
        block = self.block_no
        self.block_no = (self.block_no + 1) & 0xFF
        timestamp = now_ms & 0xFFFF
        self.in_flight[block] = now_ms
        self.sent += 1
        messages = rdpsnd.encode_wave(timestamp, self.format_no, block, data,
                                      wave2=self.client_version >= 8, audio_timestamp=now_ms & 0xFFFFFFFF)
        return b"".join(self.encode(m) for m in messages)

    def _send(self, pdu: rdpsnd.RdpsndPdu) -> bytes:
        log.debug("%s rdpsnd -> %s", self.host.log_context, pdu)
        return self.encode(rdpsnd.encode(pdu))
