"""Audio output virtual channel PDUs ([MS-RDPEA] 2.2), sans-IO: decode from bytes, encode to bytes.

The same PDUs travel on the static channel "rdpsnd" or on the dynamic channel
"AUDIO_PLAYBACK_DVC" ([2.1]); each message of either channel is one PDU, except the Wave PDU,
which follows its Wave Info as a message of its own and has no header. Wave Info + Wave are
static-channel only ([2.2.3.3]): on the dynamic channel audio goes in Wave2 PDUs.

Every PDU starts with the RDPSND PDU header (``SNDPROLOG``: msgType u8, bPad u8, BodySize u16
LE). The server sends Server Audio Formats and Version, Training and audio data (Wave2, or
Wave Info + Wave for clients before version 8) and Close; the client sends Client Audio
Formats and Version, Quality Mode, Training Confirm and Wave Confirm.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from rdpfront.errors import RemoteProtocolError

CHANNEL_NAME = "rdpsnd"
DVC_NAME = "AUDIO_PLAYBACK_DVC"  # [2.1] the reliable dynamic channel (the lossy one is for UDP)
SERVER_VERSION = 8  # Wave2 needs both sides at 8 or later
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_AAC_MS = 0xA106  # AAC in ADTS frames, as FreeRDP 2's rdpsnd decodes it
MAX_FORMATS = 256

_HEADER = struct.Struct("<BBH")


class MsgType(enum.IntEnum):
    SNDC_CLOSE = 0x01
    SNDC_WAVE = 0x02
    SNDC_SETVOLUME = 0x03
    SNDC_SETPITCH = 0x04
    SNDC_WAVECONFIRM = 0x05
    SNDC_TRAINING = 0x06
    SNDC_FORMATS = 0x07
    SNDC_CRYPTKEY = 0x08
    SNDC_WAVEENCRYPT = 0x09
    SNDC_UDPWAVE = 0x0A
    SNDC_UDPWAVELAST = 0x0B
    SNDC_QUALITYMODE = 0x0C
    SNDC_WAVE2 = 0x0D


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RemoteProtocolError(f"rdpsnd {self.what}: {n} bytes wanted at offset {self.pos}, "
                                      f"{len(self.data) - self.pos} left")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size))


@dataclass(frozen=True)
class AudioFormat:
    """[2.2.2.1.1] Audio Format (AUDIO_FORMAT)."""

    format_tag: int
    channels: int
    samples_per_sec: int
    avg_bytes_per_sec: int
    block_align: int
    bits_per_sample: int
    extra: bytes = b""

    @classmethod
    def pcm(cls, rate: int, channels: int = 2, bits: int = 16) -> AudioFormat:
        align = channels * bits // 8
        return cls(WAVE_FORMAT_PCM, channels, rate, rate * align, align, bits)

    @classmethod
    def decode(cls, r: _Reader) -> AudioFormat:
        tag, channels, rate, avg, align, bits, cb = r.unpack("HHIIHHH")
        return cls(tag, channels, rate, avg, align, bits, r.take(cb))

    @classmethod
    def aac(cls, rate: int, bit_rate: int, channels: int = 2) -> AudioFormat:
        return cls(WAVE_FORMAT_AAC_MS, channels, rate, bit_rate // 8, 2 * channels, 16)

    def encode(self) -> bytes:
        return struct.pack("<HHIIHHH", self.format_tag, self.channels, self.samples_per_sec,
                           self.avg_bytes_per_sec, self.block_align, self.bits_per_sample,
                           len(self.extra)) + self.extra

    def size(self) -> int:
        return 18 + len(self.extra)


@dataclass(frozen=True)
class AudioFormats:
    """[2.2.2.1] Server Audio Formats and Version PDU (SERVER_AUDIO_VERSION_AND_FORMATS) and
    [2.2.2.2] Client Audio Formats and Version PDU (CLIENT_AUDIO_VERSION_AND_FORMATS): one shape."""

    formats: tuple[AudioFormat, ...]
    version: int = SERVER_VERSION
    flags: int = 0
    volume: int = 0
    pitch: int = 0
    dgram_port: int = 0
    last_block_confirmed: int = 0

    @classmethod
    def decode(cls, r: _Reader) -> AudioFormats:
        flags, volume, pitch = r.unpack("III")
        (port,) = struct.unpack(">H", r.take(2))
        count, last, version, _pad = r.unpack("HBHB")
        if count > MAX_FORMATS:
            raise RemoteProtocolError(f"rdpsnd formats: {count} formats is over {MAX_FORMATS}")
        formats = tuple(AudioFormat.decode(r) for _ in range(count))
        return cls(formats, version, flags, volume, pitch, port, last)

    def encode(self) -> bytes:
        return (struct.pack("<III", self.flags, self.volume, self.pitch) + struct.pack(">H", self.dgram_port)
                + struct.pack("<HBHB", len(self.formats), self.last_block_confirmed, self.version, 0)
                + b"".join(f.encode() for f in self.formats))


@dataclass(frozen=True)
class QualityMode:
    """[2.2.2.3] Quality Mode PDU."""

    mode: int

    @classmethod
    def decode(cls, r: _Reader) -> QualityMode:
        mode, _reserved = r.unpack("HH")
        return cls(mode)

    def encode(self) -> bytes:
        return struct.pack("<HH", self.mode, 0)


@dataclass(frozen=True)
class Training:
    """[2.2.3.1] Training PDU (server) and [2.2.3.2] Training Confirm PDU (client)."""

    timestamp: int
    pack_size: int = 0

    @classmethod
    def decode(cls, r: _Reader) -> Training:
        timestamp, pack_size = r.unpack("HH")
        return cls(timestamp, pack_size)

    def encode(self) -> bytes:
        return struct.pack("<HH", self.timestamp, self.pack_size)


@dataclass(frozen=True)
class Wave2:
    """[2.2.3.10] Wave2 PDU: one block of audio in the client's format ``format_no``."""

    timestamp: int  # ms, 16 bits: echoed by the Wave Confirm
    format_no: int
    block_no: int
    audio_timestamp: int  # ms, 32 bits
    data: bytes

    @classmethod
    def decode(cls, r: _Reader) -> Wave2:
        timestamp, format_no, block_no, _p1, _p2, _p3, audio_ts = r.unpack("HHBBBBI")
        return cls(timestamp, format_no, block_no, audio_ts, r.take(len(r.data) - r.pos))

    def encode(self) -> bytes:
        return struct.pack("<HHB3xI", self.timestamp, self.format_no, self.block_no, self.audio_timestamp) + self.data


@dataclass(frozen=True)
class WaveInfo:
    """[2.2.3.3] Wave Info PDU: the block's first four bytes; the Wave PDU [2.2.3.4] follows
    with four pad bytes and the rest. ``body_size`` of its header counts both."""

    timestamp: int
    format_no: int
    block_no: int
    first: bytes  # four bytes

    @classmethod
    def decode(cls, r: _Reader) -> WaveInfo:
        timestamp, format_no, block_no = r.unpack("HHB3x")
        return cls(timestamp, format_no, block_no, r.take(4))

    def encode(self) -> bytes:
        return struct.pack("<HHB3x", self.timestamp, self.format_no, self.block_no) + self.first


@dataclass(frozen=True)
class WaveConfirm:
    """[2.2.3.8] Wave Confirm PDU."""

    timestamp: int
    block_no: int

    @classmethod
    def decode(cls, r: _Reader) -> WaveConfirm:
        timestamp, block_no, _pad = r.unpack("HBB")
        return cls(timestamp, block_no)

    def encode(self) -> bytes:
        return struct.pack("<HBB", self.timestamp, self.block_no, 0)


@dataclass(frozen=True)
class Close:
    """[2.2.3.9] Close PDU."""

    @classmethod
    def decode(cls, r: _Reader) -> Close:
        return cls()

    def encode(self) -> bytes:
        return b""


RdpsndPdu = AudioFormats | QualityMode | Training | Wave2 | WaveInfo | WaveConfirm | Close

_BODY = {
    MsgType.SNDC_FORMATS: AudioFormats, MsgType.SNDC_QUALITYMODE: QualityMode, MsgType.SNDC_TRAINING: Training,
    MsgType.SNDC_WAVE2: Wave2, MsgType.SNDC_WAVE: WaveInfo, MsgType.SNDC_WAVECONFIRM: WaveConfirm,
    MsgType.SNDC_CLOSE: Close,
}
_TYPE = {cls: t for t, cls in _BODY.items()}


def decode(message: bytes) -> RdpsndPdu:
    """One whole channel message → its PDU; ``RemoteProtocolError`` if malformed or unknown."""
    if len(message) < _HEADER.size:
        raise RemoteProtocolError(f"rdpsnd: message of {len(message)} bytes is shorter than its header")
    msg_type, _pad, body_size = _HEADER.unpack_from(message)
    body = message[_HEADER.size:]
    try:
        cls = _BODY[MsgType(msg_type)]
    except (ValueError, KeyError):
        raise RemoteProtocolError(f"rdpsnd: unexpected message type 0x{msg_type:02x}") from None
    if cls is not WaveInfo and body_size != len(body):
        raise RemoteProtocolError(f"rdpsnd {cls.__name__}: BodySize {body_size}, {len(body)} bytes follow")
    r = _Reader(body, cls.__name__)
    pdu = cls.decode(r)
    if r.pos != len(body):
        raise RemoteProtocolError(f"rdpsnd {cls.__name__}: {len(body) - r.pos} bytes left over")
    return pdu


def encode(pdu: RdpsndPdu, body_size: int | None = None) -> bytes:
    body = pdu.encode()
    return _HEADER.pack(_TYPE[type(pdu)], 0, len(body) if body_size is None else body_size) + body


def encode_wave(timestamp: int, format_no: int, block_no: int, data: bytes, *, wave2: bool,
                audio_timestamp: int = 0) -> list[bytes]:
    """One block of audio as channel messages: a Wave2 PDU, or a Wave Info and a Wave PDU
    (the older pair: the data's first four bytes ride in the Wave Info, four zero bytes take
    their place at the head of the Wave)."""
    if wave2:
        return [encode(Wave2(timestamp, format_no, block_no, audio_timestamp, data))]
    if len(data) < 4:
        data = data + bytes(4 - len(data))
    info = encode(WaveInfo(timestamp, format_no, block_no, data[:4]), body_size=len(data) + 12)
    return [info, bytes(4) + data[4:]]
