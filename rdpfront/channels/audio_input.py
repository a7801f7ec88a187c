"""Audio input ([MS-RDPEAI]) as a dynamic channel: the client's microphone becomes the
desktop's (docs/microphone.md). Asked for only when the client's info says it captures audio.

Once the client accepts "AUDIO_INPUT" the server sends Version 1, then the formats it takes:
16-bit PCM at 48 kHz, mono or stereo (``OFFERED``; the desktop's microphone is 48 kHz mono,
so a stereo capture is only averaged here, never resampled). From the client's answer it opens
the first of those the client can capture, and every Data PDU then becomes ``MicrophoneAudio``
(s16le, 48 kHz, mono) for the session host, which bounds the rate.

Anything wrong on this channel — a malformed PDU, a format the server never offered, audio
before the client opened, a packet that is not whole samples — is logged once and closes this
channel only (a DVC Close; what the client still had in flight is ignored): the connection and
its picture go on.
"""

from __future__ import annotations

import enum
import logging

import numpy as np

from rdpfront import audin, dvc, events
from rdpfront.channels.base import ChannelHost, DynamicChannel
from rdpfront.errors import RemoteProtocolError
from rdpfront.rdp.client_info import InfoFlags

log = logging.getLogger(__name__)

RATE = 48000
# What the server asks the client to capture, best first: nothing to convert, then a downmix.
OFFERED = (audin.AudioFormat.pcm(RATE, 1), audin.AudioFormat.pcm(RATE, 2))
FRAMES_PER_PACKET = RATE // 50  # 20 ms of audio in each Data PDU


class State(enum.Enum):
    VERSION = "waiting for the client's version"
    FORMATS = "waiting for the client's formats"
    OPENING = "waiting for the client to open"
    OPEN = "open"
    FAILED = "failed"


def to_mono_s16(data: bytes, fmt: audin.AudioFormat) -> bytes:
    """``data`` in ``fmt`` (one of ``OFFERED``) as 16-bit mono: stereo frames are averaged."""
    samples = np.frombuffer(data, dtype="<i2")
    if fmt.channels == 1:
        return data
    frames = samples.reshape(-1, fmt.channels).astype(np.int32)
    return (frames.sum(axis=1) // fmt.channels).astype("<i2").tobytes()


class AudioInputChannel(DynamicChannel):
    name = audin.CHANNEL_NAME

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.state = State.VERSION
        self.client_formats: tuple[audin.AudioFormat, ...] = ()
        self.format: audin.AudioFormat | None = None  # the client's current capture format
        self.packets = 0

    @classmethod
    def wanted(cls, host: ChannelHost) -> bool:
        # INFO_AUDIOCAPTURE ([MS-RDPBCGR] 2.2.1.11.1.1): the user asked to redirect the microphone.
        return bool(host.accepted.client_info.flags & InfoFlags.INFO_AUDIOCAPTURE)

    def opened(self) -> None:
        self._send(audin.Version(audin.VERSION_1))

    def receive(self, message: bytes) -> None:
        if self.state is State.FAILED:
            return  # in flight before the client saw our close
        try:
            self._receive(audin.decode_audin(message))
        except RemoteProtocolError as exc:
            log.warning("%s microphone channel closed: %s", self.host.log_context, exc)
            self.state = State.FAILED
            self.host.write(self.drdynvc.encode(dvc.encode_dvc(dvc.Close(self.channel_id))))

    def _receive(self, pdu: audin.AudinPdu) -> None:
        if isinstance(pdu, audin.DataIncoming):
            return
        if isinstance(pdu, audin.Data):
            self._data(pdu.data)
        elif isinstance(pdu, audin.Version) and self.state is State.VERSION:
            if pdu.version not in (audin.VERSION_1, audin.VERSION_2):
                raise RemoteProtocolError(f"client audio input version {pdu.version}")
            self.state = State.FORMATS
            self._send(audin.Formats(OFFERED))
        elif isinstance(pdu, audin.Formats) and self.state is State.FORMATS:
            self._open(pdu.formats)
        elif isinstance(pdu, audin.FormatChange) and self.state in (State.OPENING, State.OPEN):
            self.format = self._offered(pdu.new_format)
            log.info("%s microphone format: %s", self.host.log_context, self.format)
        elif isinstance(pdu, audin.OpenReply) and self.state is State.OPENING:
            if not pdu.ok:
                raise RemoteProtocolError(f"the client could not open its microphone ({pdu.result & 0xFFFFFFFF:#x})")
            self.state = State.OPEN
            log.info("%s microphone open", self.host.log_context)
        else:
            raise RemoteProtocolError(f"unexpected {type(pdu).__name__} while {self.state.value}")

    def _open(self, formats: tuple[audin.AudioFormat, ...]) -> None:
        self.client_formats = formats
        for wanted in OFFERED:
            for index, fmt in enumerate(formats):
                if fmt.same_format(wanted):
                    self.state = State.OPENING
                    # FreeRDP may send its first packets before its Format Change confirms this.
                    self.format = fmt
                    self._send(audin.Open(FRAMES_PER_PACKET, index, fmt))
                    return
        raise RemoteProtocolError(f"the client can capture none of the formats offered "
                                  f"({', '.join(map(str, formats)) or 'no formats'})")

    def _offered(self, index: int) -> audin.AudioFormat:
        """The client's format number ``index``, which must be one the server offered."""
        if index >= len(self.client_formats):
            raise RemoteProtocolError(f"format {index} of a list of {len(self.client_formats)}")
        fmt = self.client_formats[index]
        if not any(fmt.same_format(o) for o in OFFERED):
            raise RemoteProtocolError(f"format {fmt}, which the server never offered")
        return fmt

    def _data(self, data: bytes) -> None:
        if self.format is None or self.state not in (State.OPENING, State.OPEN):
            raise RemoteProtocolError(f"audio data while {self.state.value}")
        if len(data) % self.format.block_align:
            raise RemoteProtocolError(f"audio data of {len(data)} bytes is not whole {self.format} frames")
        self.packets += 1
        if data:
            self.host.emit(events.MicrophoneAudio(to_mono_s16(data, self.format)))

    def closed(self) -> None:
        if self.state is not State.FAILED:
            log.info("%s microphone channel closed by the client after %d packets", self.host.log_context,
                     self.packets)
        self.state = State.FAILED

    def _send(self, pdu: audin.AudinPdu) -> None:
        log.debug("%s audin -> %s", self.host.log_context, pdu)
        self.host.write(self.encode(audin.encode_audin(pdu)))
