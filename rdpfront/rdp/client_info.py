"""[2.2.1.11] Client Info PDU: TS_INFO_PACKET with the credentials, and its extended info."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rdpfront.cursor import Reader, Writer
from rdpfront.errors import LocalProtocolError, RemoteProtocolError


class InfoFlags(enum.IntFlag):
    """[2.2.1.11.1.1] flags of TS_INFO_PACKET."""

    NONE = 0
    INFO_MOUSE = 0x00000001
    INFO_DISABLECTRLALTDEL = 0x00000002
    INFO_AUTOLOGON = 0x00000008
    INFO_UNICODE = 0x00000010
    INFO_MAXIMIZESHELL = 0x00000020
    INFO_LOGONNOTIFY = 0x00000040
    INFO_COMPRESSION = 0x00000080
    INFO_ENABLEWINDOWSKEY = 0x00000100
    INFO_REMOTECONSOLEAUDIO = 0x00002000
    INFO_FORCE_ENCRYPTED_CS_PDU = 0x00004000
    INFO_RAIL = 0x00008000
    INFO_LOGONERRORS = 0x00010000
    INFO_MOUSE_HAS_WHEEL = 0x00020000
    INFO_PASSWORD_IS_SC_PIN = 0x00040000
    INFO_NOAUDIOPLAYBACK = 0x00080000
    INFO_USING_SAVED_CREDS = 0x00100000
    INFO_AUDIOCAPTURE = 0x00200000
    INFO_VIDEO_DISABLE = 0x00400000
    INFO_RESERVED1 = 0x00800000
    INFO_RESERVED2 = 0x01000000
    INFO_HIDEF_RAIL_SUPPORTED = 0x02000000


class PerformanceFlags(enum.IntFlag):
    """[2.2.1.11.1.1.1] performanceFlags of TS_EXTENDED_INFO_PACKET."""

    NONE = 0
    PERF_DISABLE_WALLPAPER = 0x00000001
    PERF_DISABLE_FULLWINDOWDRAG = 0x00000002
    PERF_DISABLE_MENUANIMATIONS = 0x00000004
    PERF_DISABLE_THEMING = 0x00000008
    PERF_RESERVED1 = 0x00000010
    PERF_DISABLE_CURSOR_SHADOW = 0x00000020
    PERF_DISABLE_CURSORSETTINGS = 0x00000040
    PERF_ENABLE_FONT_SMOOTHING = 0x00000080
    PERF_ENABLE_DESKTOP_COMPOSITION = 0x00000100
    PERF_RESERVED2 = 0x80000000


# The longest strings the spec allows (2.2.1.11.1.1): 512 bytes with long credentials.
MAX_STRING_BYTES = 512
TIME_ZONE_INFO_SIZE = 172


def _read_string(r: Reader, cb: int, unicode: bool, what: str) -> str:
    if cb > MAX_STRING_BYTES:
        raise RemoteProtocolError(f"{what} of {cb} bytes exceeds {MAX_STRING_BYTES}")
    term = 2 if unicode else 1
    raw = r.read(cb + term, what)
    if unicode:
        if cb % 2:
            raise RemoteProtocolError(f"{what}: odd UTF-16 byte count {cb}")
        return raw[:cb].decode("utf-16-le", errors="replace")
    return raw[:cb].decode("latin-1")  # ANSI clients are legacy; latin-1 keeps every byte


def _encode_string(text: str, unicode: bool) -> bytes:
    return text.encode("utf-16-le", errors="surrogatepass") if unicode else text.encode("latin-1", errors="replace")


@dataclass(frozen=True)
class ExtendedInfo:
    """[2.2.1.11.1.1.1] Extended Info Packet (TS_EXTENDED_INFO_PACKET).

    Fields after ``performance_flags`` (auto-reconnect cookie, dynamic DST) are kept raw in
    ``tail``; the optional fields form a prefix, so ``None`` ends the encoded packet.
    """

    address_family: int = 0x0002  # AF_INET
    client_address: str = ""
    client_dir: str = ""
    time_zone: bytes | None = field(default=None, repr=False)
    session_id: int | None = None
    performance_flags: int | None = None
    tail: bytes = field(default=b"", repr=False)

    @classmethod
    def decode(cls, r: Reader) -> ExtendedInfo:
        family = r.u16("clientAddressFamily")
        cb_addr = r.u16("cbClientAddress")
        if cb_addr > 80:
            raise RemoteProtocolError(f"clientAddress of {cb_addr} bytes exceeds 80")
        address = r.read(cb_addr, "clientAddress").decode("utf-16-le", errors="replace").rstrip("\x00")
        cb_dir = r.u16("cbClientDir")
        if cb_dir > 512:
            raise RemoteProtocolError(f"clientDir of {cb_dir} bytes exceeds 512")
        client_dir = r.read(cb_dir, "clientDir").decode("utf-16-le", errors="replace").rstrip("\x00")
        tz = session = perf = None
        if r.remaining() >= TIME_ZONE_INFO_SIZE:
            tz = r.read(TIME_ZONE_INFO_SIZE, "clientTimeZone")
            if r.remaining() >= 4:
                session = r.u32("clientSessionId")
                if r.remaining() >= 4:
                    perf = r.u32("performanceFlags")
        tail = r.rest()
        return cls(family, address, client_dir, tz, session, perf, tail if perf is not None else b"")

    @staticmethod
    def _z(text: str) -> bytes:
        return text.encode("utf-16-le", errors="surrogatepass") + b"\x00\x00"

    def encode(self, w: Writer) -> None:
        w.u16(self.address_family)
        addr = self._z(self.client_address)
        if len(addr) > 80 or len(self._z(self.client_dir)) > 512:
            raise LocalProtocolError("clientAddress or clientDir too long")
        w.u16(len(addr))
        w.write(addr)
        cdir = self._z(self.client_dir)
        w.u16(len(cdir))
        w.write(cdir)
        if self.time_zone is None:
            return
        if len(self.time_zone) != TIME_ZONE_INFO_SIZE:
            raise LocalProtocolError("clientTimeZone must be 172 bytes")
        w.write(self.time_zone)
        if self.session_id is None:
            return
        w.u32(self.session_id)
        if self.performance_flags is None:
            return
        w.u32(self.performance_flags)
        w.write(self.tail)

    def auto_reconnect_cookie(self) -> bytes | None:
        """The autoReconnectCookie field ([2.2.4.3] ARC_CS_PRIVATE_PACKET, undecoded), the
        first of the fields kept in ``tail``; None when the client sent none
        (cbAutoReconnectCookie absent or 0)."""
        if len(self.tail) < 2:
            return None
        r = Reader(self.tail)
        cb = r.u16("cbAutoReconnectCookie")
        return r.read(cb, "autoReconnectCookie") if cb else None

    def size(self) -> int:
        n = 6 + len(self._z(self.client_address)) + len(self._z(self.client_dir))
        if self.time_zone is not None:
            n += TIME_ZONE_INFO_SIZE
            if self.session_id is not None:
                n += 4
                if self.performance_flags is not None:
                    n += 4 + len(self.tail)
        return n


@dataclass(frozen=True)
class ClientInfo:
    """[2.2.1.11.1.1] Info Packet (TS_INFO_PACKET)."""

    flags: int
    domain: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    alternate_shell: str = ""
    working_dir: str = ""
    code_page: int = 0
    extended: ExtendedInfo | None = None

    @property
    def unicode(self) -> bool:
        return bool(self.flags & InfoFlags.INFO_UNICODE)

    @classmethod
    def decode(cls, r: Reader) -> ClientInfo:
        code_page = r.u32("CodePage")
        flags = r.u32("flags")
        lengths = [r.u16(f"cb{name}") for name in ("Domain", "UserName", "Password", "AlternateShell", "WorkingDir")]
        unicode = bool(flags & InfoFlags.INFO_UNICODE)
        names = ("Domain", "UserName", "Password", "AlternateShell", "WorkingDir")
        domain, user, password, shell, wdir = (
            _read_string(r, cb, unicode, name) for cb, name in zip(lengths, names, strict=True))
        extended = ExtendedInfo.decode(r) if r.remaining() else None
        return cls(flags, domain, user, password, shell, wdir, code_page, extended)

    def _strings(self) -> list[bytes]:
        return [_encode_string(s, self.unicode) for s in
                (self.domain, self.username, self.password, self.alternate_shell, self.working_dir)]

    def encode(self, w: Writer) -> None:
        w.u32(self.code_page)
        w.u32(self.flags)
        strings = self._strings()
        for raw in strings:
            if len(raw) > MAX_STRING_BYTES:
                raise LocalProtocolError("Client Info string longer than 512 bytes")
            w.u16(len(raw))
        term = b"\x00\x00" if self.unicode else b"\x00"
        for raw in strings:
            w.write(raw + term)
        if self.extended is not None:
            self.extended.encode(w)

    def size(self) -> int:
        term = 2 if self.unicode else 1
        n = 18 + sum(len(raw) + term for raw in self._strings())
        return n + (self.extended.size() if self.extended else 0)
