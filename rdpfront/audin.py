"""[MS-RDPEAI] Audio Input Redirection: the client's microphone, over the dynamic channel
"AUDIO_INPUT".

Every PDU starts with one byte, the MessageId ([2.2.1] SNDIN_PDU). The server drives it
([3.1.1]): it sends its Version, the client answers with its own; the server sends the formats
it can take, the client answers with the subset it can capture (Incoming Data first, then the
Formats PDU whose indexes every later PDU refers to); the server sends Open (frames per packet,
an index into the client's list), the client answers Format Change (the index it uses) and
Open Reply (an HRESULT). From then on each packet is Incoming Data followed by Data. Either side
may send Format Change later; the channel ends with the DVC's own close ([MS-RDPEDYC] 2.2.4),
there is no close PDU of this protocol.

FreeRDP 2.x answers only a server Version of 1 (it ignores any other), so the server sends 1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

CHANNEL_NAME = "AUDIO_INPUT"
VERSION_1 = 1
VERSION_2 = 2
MAX_FORMATS = 256  # in one Formats PDU (FreeRDP takes up to 1000; real lists hold ~30)
MAX_FORMAT_EXTRA = 1024  # cbSize of one AUDIO_FORMAT (WAVEFORMATEXTENSIBLE needs 22)
FORMAT_SIZE = 18  # AUDIO_FORMAT without its extra data


class MessageId(enum.IntEnum):
    VERSION = 0x01
    FORMATS = 0x02
    OPEN = 0x03
    OPEN_REPLY = 0x04
    DATA_INCOMING = 0x05
    DATA = 0x06
    FORMAT_CHANGE = 0x07


class FormatTag(enum.IntEnum):
    """The wFormatTag values this server knows by name ([MS-RDPEA] 2.2.2.1.1 / RFC 2361)."""

    PCM = 0x0001
    ADPCM = 0x0002
    ALAW = 0x0006
    MULAW = 0x0007
    EXTENSIBLE = 0xFFFE


@dataclass(frozen=True)
class AudioFormat:
    """[MS-RDPEAI 2.2.2.1.1] AUDIO_FORMAT (a WAVEFORMATEX): ``extra`` is the cbSize bytes after it."""

    tag: int
    channels: int
    samples_per_sec: int
    avg_bytes_per_sec: int
    block_align: int
    bits_per_sample: int
    extra: bytes = b""

    @classmethod
    def pcm(cls, rate: int, channels: int, bits: int = 16) -> AudioFormat:
        align = channels * bits // 8
        return cls(FormatTag.PCM, channels, rate, rate * align, align, bits)

    @classmethod
    def decode(cls, r: Reader) -> AudioFormat:
        tag, channels = r.u16("wFormatTag"), r.u16("nChannels")
        rate, avg = r.u32("nSamplesPerSec"), r.u32("nAvgBytesPerSec")
        align, bits = r.u16("nBlockAlign"), r.u16("wBitsPerSample")
        size = r.u16("cbSize")
        if size > MAX_FORMAT_EXTRA:
            raise RemoteProtocolError(f"AUDIO_FORMAT: cbSize {size} is over {MAX_FORMAT_EXTRA}")
        return cls(tag, channels, rate, avg, align, bits, r.read(size, "AUDIO_FORMAT data"))

    def encode(self, w: Writer) -> None:
        if len(self.extra) > MAX_FORMAT_EXTRA:
            raise LocalProtocolError(f"AUDIO_FORMAT with {len(self.extra)} bytes of extra data")
        w.u16(self.tag)
        w.u16(self.channels)
        w.u32(self.samples_per_sec)
        w.u32(self.avg_bytes_per_sec)
        w.u16(self.block_align)
        w.u16(self.bits_per_sample)
        w.u16(len(self.extra))
        w.write(self.extra)

    def size(self) -> int:
        return FORMAT_SIZE + len(self.extra)

    def same_format(self, other: AudioFormat) -> bool:
        """The same encoding (tag, channels, rate, bits); ``extra`` and the derived fields aside."""
        return (self.tag, self.channels, self.samples_per_sec, self.bits_per_sample) == \
            (other.tag, other.channels, other.samples_per_sec, other.bits_per_sample)

    def __str__(self) -> str:
        try:
            name = FormatTag(self.tag).name
        except ValueError:
            name = f"tag {self.tag:#06x}"
        return f"{name} {self.samples_per_sec} Hz {self.channels} ch {self.bits_per_sample} bit"


@dataclass(frozen=True)
class Version:
    """[2.2.2.1] MSG_SNDIN_VERSION, either direction."""

    version: int = VERSION_1


@dataclass(frozen=True)
class Formats:
    """[2.2.2.2] MSG_SNDIN_FORMATS, either direction. ``cbSizeFormatsPacket`` is written as the
    PDU's size without ``extra`` (what the client must send; the server's is arbitrary)."""

    formats: tuple[AudioFormat, ...]
    extra: bytes = b""


@dataclass(frozen=True)
class Open:
    """[2.2.2.3] MSG_SNDIN_OPEN (server to client): capture ``frames_per_packet`` frames per
    Data PDU in the client's format number ``initial_format``, described again in ``format``."""

    frames_per_packet: int
    initial_format: int
    format: AudioFormat


@dataclass(frozen=True)
class OpenReply:
    """[2.2.2.4] MSG_SNDIN_OPEN_REPLY (client to server): ``result`` is an HRESULT (>= 0: open)."""

    result: int

    @property
    def ok(self) -> bool:
        return self.result >= 0


@dataclass(frozen=True)
class DataIncoming:
    """[2.2.3.1] MSG_SNDIN_DATA_INCOMING (client to server): a Data PDU follows."""


@dataclass(frozen=True)
class Data:
    """[2.2.3.2] MSG_SNDIN_DATA (client to server): audio in the current format."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class FormatChange:
    """[2.2.4.1] MSG_SNDIN_FORMATCHANGE, either direction: index into the client's format list."""

    new_format: int


AudinPdu = Version | Formats | Open | OpenReply | DataIncoming | Data | FormatChange
CLIENT_PDUS = (Version, Formats, OpenReply, DataIncoming, Data, FormatChange)
SERVER_PDUS = (Version, Formats, Open, FormatChange)


def decode_audin(data: bytes, *, from_server: bool = False) -> AudinPdu:
    """One SNDIN PDU (a whole DVC message). A server decodes what clients send; pass
    ``from_server`` to decode the server's side (Open is the server's only)."""
    r = Reader(data)
    try:
        message = MessageId(r.u8("MessageId"))
    except ValueError:
        raise RemoteProtocolError(f"unknown SNDIN MessageId {data[0]:#04x}") from None
    pdu: AudinPdu
    if message == MessageId.VERSION:
        pdu = Version(r.u32("Version"))
    elif message == MessageId.FORMATS:
        count = r.u32("NumFormats")
        r.u32("cbSizeFormatsPacket")
        if count > MAX_FORMATS:
            raise RemoteProtocolError(f"SNDIN Formats: {count} formats, over {MAX_FORMATS}")
        formats = tuple(AudioFormat.decode(r) for _ in range(count))
        return Formats(formats, r.rest())
    elif message == MessageId.OPEN and from_server:
        frames, initial = r.u32("FramesPerPacket"), r.u32("initialFormat")
        pdu = Open(frames, initial, AudioFormat.decode(r))
    elif message == MessageId.OPEN_REPLY and not from_server:
        pdu = OpenReply(r.i32("Result"))
    elif message == MessageId.DATA_INCOMING and not from_server:
        pdu = DataIncoming()
    elif message == MessageId.DATA and not from_server:
        return Data(r.rest())
    elif message == MessageId.FORMAT_CHANGE:
        pdu = FormatChange(r.u32("NewFormat"))
    else:
        side = "server" if from_server else "client"
        raise RemoteProtocolError(f"SNDIN {message.name} is never sent by the {side}")
    r.expect_end(f"SNDIN {message.name}")
    return pdu


def encode_audin(pdu: AudinPdu) -> bytes:
    w = Writer()
    if isinstance(pdu, Version):
        w.u8(MessageId.VERSION)
        w.u32(pdu.version)
    elif isinstance(pdu, Formats):
        if len(pdu.formats) > MAX_FORMATS:
            raise LocalProtocolError(f"SNDIN Formats with {len(pdu.formats)} formats")
        w.u8(MessageId.FORMATS)
        w.u32(len(pdu.formats))
        w.u32(9 + sum(f.size() for f in pdu.formats))
        for f in pdu.formats:
            f.encode(w)
        w.write(pdu.extra)
    elif isinstance(pdu, Open):
        w.u8(MessageId.OPEN)
        w.u32(pdu.frames_per_packet)
        w.u32(pdu.initial_format)
        pdu.format.encode(w)
    elif isinstance(pdu, OpenReply):
        w.u8(MessageId.OPEN_REPLY)
        w.i32(pdu.result)
    elif isinstance(pdu, DataIncoming):
        w.u8(MessageId.DATA_INCOMING)
    elif isinstance(pdu, Data):
        w.u8(MessageId.DATA)
        w.write(pdu.data)
    elif isinstance(pdu, FormatChange):
        w.u8(MessageId.FORMAT_CHANGE)
        w.u32(pdu.new_format)
    else:
        raise LocalProtocolError(f"not an SNDIN PDU: {pdu!r}")
    return w.getvalue()
