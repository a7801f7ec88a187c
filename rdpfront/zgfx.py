"""[MS-RDPEGFX 3.1.9.1] RDP 8.0 Bulk Compression ("ZGFX") of RDP_DATA_SEGMENT payloads.

Each segment of an RDP_SEGMENTED_DATA is one RDP8_BULK_ENCODED_DATA ([2.2.5.3]): a header
byte (PACKET_COMPR_TYPE_RDP8, plus PACKET_COMPRESSED when compressed) and the data. Sender
and receiver keep a 2,500,000-byte history ring of everything the segments carried, raw
segments included. A compressed segment is a bit stream (most significant bit first) of
tokens, followed by one byte that counts the unused bits at the end of the stream:

- literal: ``0`` and the byte in 8 bits, or a 5 to 8 bit code for 23 common bytes;
- match: a distance prefix (5 to 9 bits) and its value bits, then the length: ``0`` is 3,
  otherwise ``1``, k more ``1`` and a ``0``, then k + 2 bits added to 4 * 2**k;
- distance 0 (prefix ``10001`` with value 0): a raw run, 15 bits of count, then that many
  bytes from the next byte boundary.

The client (FreeRDP 2.11's ``zgfx.c``) copies a match from its ring byte by byte in effect,
so a distance smaller than the length repeats the last ``distance`` bytes. It decodes at most
65,536 bytes per segment. Its ring lives as long as its graphics channel plug-in and starts
where it starts, so the compressor only refers back to bytes it sent itself: distances are
relative, and the ring's state from before this connection never matters.

``Compressor`` is sans-IO: ``segment(data)`` returns the encoded segment and appends ``data``
to its history. Only segments up to ``max_compress`` bytes are compressed (greedy LZ77 over a
hash table of 4-byte keys): 8 KB by default (typing, cursors, small images), or a limit given
per segment (the graphics channel compresses frames without H.264 whole); larger ones (H.264
access units) go raw, still appended to the history. A compressed segment is sent only when it
is smaller than the raw one. The parse runs in C (``rdpfront/_zgfx.c``, built by ``make
setup``) when that module is built; this module's Python code (vectorised with numpy, or a
plain loop for segments up to ``SMALL_SEGMENT`` bytes) is the reference and the fallback, and
all three give the same bytes. ``Decompressor`` (tests) mirrors
the client's decoder and rejects malformed data with a ``RemoteProtocolError``.
"""

from __future__ import annotations

import bisect
import itertools
import logging

import numpy as np

from rdpfront.errors import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)

try:
    from rdpfront import _zgfx
except ImportError as error:  # not built (``make native``): the Python code, slower
    _zgfx = None
    log.debug("zgfx: the C core is not built (%s); compressing in Python", error)
# Whether ``Compressor`` runs its parse in C by default.
NATIVE = _zgfx is not None

HISTORY_SIZE = 2_500_000
SEGMENT_OUTPUT_MAX = 65_536  # bytes the client decodes from one segment (its output buffer)
PACKET_COMPR_TYPE_RDP8 = 0x04
PACKET_COMPRESSED = 0x20
MIN_MATCH = 3
RAW_RUN_MAX = 0x7FFF  # a raw run's count has 15 bits
DEFAULT_MAX_COMPRESS = 8192

# [3.1.9.1.2] literal tokens with a short code: byte -> (prefix code, prefix length). Every
# other byte is "0" followed by its 8 bits.
SHORT_LITERALS: dict[int, tuple[int, int]] = {
    0x00: (0b11000, 5), 0x01: (0b11001, 5),
    0x02: (0b110100, 6), 0x03: (0b110101, 6), 0xFF: (0b110110, 6),
    0x04: (0b1101110, 7), 0x05: (0b1101111, 7), 0x06: (0b1110000, 7), 0x07: (0b1110001, 7),
    0x08: (0b1110010, 7), 0x09: (0b1110011, 7), 0x0A: (0b1110100, 7), 0x0B: (0b1110101, 7),
    0x3A: (0b1110110, 7), 0x3B: (0b1110111, 7), 0x3C: (0b1111000, 7), 0x3D: (0b1111001, 7),
    0x3E: (0b1111010, 7), 0x3F: (0b1111011, 7), 0x40: (0b1111100, 7), 0x80: (0b1111101, 7),
    0x0C: (0b11111100, 8), 0x38: (0b11111101, 8), 0x39: (0b11111110, 8), 0x66: (0b11111111, 8),
}

# Match distance tokens: (prefix code, prefix length, value bits, distance base), by base.
DISTANCES: tuple[tuple[int, int, int, int], ...] = (
    (0b10001, 5, 5, 0),
    (0b10010, 5, 7, 32),
    (0b10011, 5, 9, 160),
    (0b10100, 5, 10, 672),
    (0b10101, 5, 12, 1696),
    (0b101100, 6, 14, 5792),
    (0b101101, 6, 15, 22176),
    (0b1011100, 7, 18, 54944),
    (0b1011101, 7, 20, 317088),
    (0b10111100, 8, 20, 1365664),
    (0b10111101, 8, 21, 2414240),
    (0b101111100, 9, 22, 4511392),
    (0b101111101, 9, 23, 8705696),
    (0b101111110, 9, 24, 17094304),
)
_DISTANCE_BASES = [d[3] for d in DISTANCES]


def _literal_tables() -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256, dtype=np.uint64)  # "0" + 8 bits: the byte itself in 9 bits
    nbits = np.full(256, 9, dtype=np.int64)
    for byte, (code, length) in SHORT_LITERALS.items():
        codes[byte], nbits[byte] = code, length
    return codes, nbits


LITERAL_CODES, LITERAL_BITS = _literal_tables()
_LITERAL_CODES_LIST = LITERAL_CODES.tolist()
_LITERAL_BITS_LIST = LITERAL_BITS.tolist()
# Segments up to this size are compressed by a plain loop (``Compressor._compress_small``): a
# typed character's graphics frame (~150 bytes) in ~0.05 ms, where the vectorised pass spends
# ~0.2 ms in numpy calls whatever the size. Both give the same bytes.
SMALL_SEGMENT = 512


def distance_token(distance: int) -> tuple[int, int]:
    """The (code, bit count) of a match distance (1 .. HISTORY_SIZE)."""
    code, length, value_bits, base = DISTANCES[bisect.bisect_right(_DISTANCE_BASES, distance) - 1]
    return (code << value_bits) | (distance - base), length + value_bits


def length_token(length: int) -> tuple[int, int]:
    """The (code, bit count) of a match length (3 or more)."""
    if length == MIN_MATCH:
        return 0, 1
    k = (length >> 2).bit_length() - 1  # 4 * 2**k <= length < 8 * 2**k
    ones = (1 << (k + 1)) - 1
    return (((ones << 1) << (k + 2)) | (length - (4 << k))), 2 * k + 4


def pack_bits(codes: np.ndarray, nbits: np.ndarray) -> tuple[bytes, int]:
    """Tokens (``codes[i]`` in its low ``nbits[i]`` bits) as bytes, most significant bit first,
    and the number of unused bits in the last byte."""
    keep = nbits > 0
    codes, nbits = codes[keep], nbits[keep]
    total = int(nbits.sum())
    width = np.repeat(nbits, nbits)
    # each bit's index inside its token, from the token's most significant bit
    within = np.arange(total) - np.repeat(np.cumsum(nbits) - nbits, nbits)
    bits = (np.repeat(codes, nbits) >> (width - 1 - within).astype(np.uint64)) & np.uint64(1)
    return np.packbits(bits.astype(np.uint8)).tobytes(), -total % 8


def raw_segment(data: bytes) -> bytes:
    """RDP8_BULK_ENCODED_DATA stored as it is."""
    return bytes([PACKET_COMPR_TYPE_RDP8]) + data


class Compressor:
    """One sender's history (one connection, server to client). ``segment(data)`` encodes one
    RDP_DATA_SEGMENT; every segment of the channel must go through it, raw ones included."""

    KEY = 4  # bytes hashed to find match candidates

    def __init__(self, *, max_compress: int = DEFAULT_MAX_COMPRESS, table_bits: int = 17,
                 native: bool = NATIVE) -> None:
        self.max_compress = max_compress
        # The last HISTORY_SIZE bytes sent (and up to HISTORY_SLACK more, trimmed in bulk).
        self._buf = bytearray()
        self._base = 0  # stream position of _buf[0]
        self._shift = np.uint32(32 - table_bits)
        # hash of a 4-byte key -> stream position where it last started, and the key itself:
        # in the C core's memory, or in these arrays for the Python code
        if native and _zgfx is None:
            raise RuntimeError("the C core of zgfx is not built (make native)")
        self._core = _zgfx.Core(table_bits) if native else None
        if self._core is None:
            self._positions = np.full(1 << table_bits, -1, dtype=np.int64)
            self._keys = np.zeros(1 << table_bits, dtype=np.uint32)
        self.bytes_in = 0
        self.bytes_out = 0

    HISTORY_SLACK = 1 << 20

    @property
    def native(self) -> bool:
        """Whether the C core compresses (else the Python code, 20-40x slower)."""
        return self._core is not None

    @property
    def position(self) -> int:
        """Bytes appended to the history so far."""
        return self._base + len(self._buf)

    def segment(self, data: bytes, max_compress: int | None = None) -> bytes:
        """The RDP8_BULK_ENCODED_DATA for ``data`` (at most 65,535 bytes: FreeRDP's bound),
        compressed when it is at most ``max_compress`` bytes (by default the compressor's)."""
        if not 0 < len(data) < SEGMENT_OUTPUT_MAX:
            raise LocalProtocolError(f"a bulk data segment carries 1..65535 bytes, not {len(data)}")
        start, n = len(self._buf), len(data)
        self._buf += data
        out = None
        if n <= (self.max_compress if max_compress is None else max_compress):
            if self._core is not None:
                out = self._core.compress(self._buf, start, n, self._base)
            elif n <= SMALL_SEGMENT:
                out = self._compress_small(start, n)
            else:
                out = self._compress(start, n)
        if out is None or len(out) >= 1 + n:
            out = raw_segment(data)
        self._trim()
        self.bytes_in += n
        self.bytes_out += len(out)
        return out

    def _trim(self) -> None:
        excess = len(self._buf) - HISTORY_SIZE
        if excess > self.HISTORY_SLACK:
            del self._buf[:excess]
            self._base += excess

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        return (keys * np.uint32(2654435761)) >> self._shift

    def _compress(self, start: int, n: int) -> bytes | None:
        """The compressed segment for ``_buf[start:start + n]`` (already appended to it), and
        the hash table updated with its positions."""
        data = np.frombuffer(self._buf, dtype=np.uint8, count=n, offset=start)
        codes = np.zeros(2 * n, dtype=np.uint64)  # per byte: a literal, or a match's two parts
        nbits = np.zeros(2 * n, dtype=np.int64)
        codes[0::2] = LITERAL_CODES[data]
        nbits[0::2] = LITERAL_BITS[data]
        if n >= self.KEY:
            keys, hashes, candidates = self._candidates(start, data)
            self._choose_matches(start, n, candidates, nbits, codes)
            self._remember(start, keys, hashes)
        payload, unused = pack_bits(codes, nbits)
        return bytes([PACKET_COMPR_TYPE_RDP8 | PACKET_COMPRESSED]) + payload + bytes([unused])

    def _compress_small(self, start: int, n: int) -> bytes:
        """``_compress`` of a short segment, one position at a time: the same candidates (the
        latest earlier position of each 4-byte key in the segment, else the hash table's), the
        same greedy parse, the same table update, so the same bytes. Candidates are looked up
        only where the parse stops (a repeated glyph is a few matches): the positions before it
        are registered in bulk, the latest of each key winning."""
        buf, base = self._buf, self._base
        origin = base + start  # stream position of the segment's first byte
        seg = bytes(buf[start:start + n])
        lit_codes, lit_bits = _LITERAL_CODES_LIST, _LITERAL_BITS_LIST
        m = n - self.KEY + 1  # positions with a whole key
        keys: list[int] = []
        before: list[int] = []
        stored: list[int] = []
        latest: dict[int, int] = {}  # key -> its latest position in the segment before the parse's
        registered = 0  # positions entered in ``latest``
        if m > 0:
            d = np.frombuffer(seg, dtype=np.uint8).astype(np.uint32)
            key_array = d[:-3] | (d[1:-2] << 8) | (d[2:-1] << 16) | (d[3:] << 24)
            index = self._hash(key_array)
            keys = key_array.tolist()
            before = self._positions[index].tolist()
            stored = self._keys[index].tolist()
        acc = total = 0
        # bits of the literals before each position
        literal_cost = list(itertools.accumulate(map(lit_bits.__getitem__, seg), initial=0)) if m > 0 else []
        i = 0
        while i < n:
            if i < m:
                if registered < i:
                    latest.update(zip(keys[registered:i], range(origin + registered, origin + i)))
                    registered = i
                key = keys[i]
                found = latest.get(key, -1)
                if found < 0:
                    b = before[i]
                    if b >= base and stored[i] == key and origin + i - b < HISTORY_SIZE:
                        found = b
                if found >= 0:
                    source = found - base
                    length = _common_length(buf, source, start + i, n - i)
                    dcode, dbits = distance_token(start + i - source)
                    lcode, lbits = length_token(length)
                    if dbits + lbits < literal_cost[i + length] - literal_cost[i]:
                        acc = (((acc << dbits) | dcode) << lbits) | lcode
                        total += dbits + lbits
                        i += length
                        continue
            byte = seg[i]
            acc = (acc << lit_bits[byte]) | lit_codes[byte]
            total += lit_bits[byte]
            i += 1
        if m > 0:
            # The table update of ``_remember`` without its sort: a dict keeps each hash's
            # last position (np.unique's calls cost more than this for a short segment).
            last = dict(zip(index.tolist(), range(m)))
            where = np.fromiter(last.values(), dtype=np.int64, count=len(last))
            hashes = np.fromiter(last.keys(), dtype=np.int64, count=len(last))
            self._positions[hashes] = where + origin
            self._keys[hashes] = key_array[where]
        unused = -total % 8
        payload = (acc << unused).to_bytes((total + unused) // 8, "big")
        return bytes([PACKET_COMPR_TYPE_RDP8 | PACKET_COMPRESSED]) + payload + bytes([unused])

    def _candidates(self, start: int, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each position of the segment: its 4-byte key, the key's hash, and the latest
        earlier stream position with the same key (-1 if none in reach)."""
        d = data.astype(np.uint32)
        keys = d[:-3] | (d[1:-2] << 8) | (d[2:-1] << 16) | (d[3:] << 24)
        m = len(keys)
        # the latest earlier occurrence inside the segment itself: neighbours in a stable sort
        order = np.argsort(keys, kind="stable")
        same = keys[order[1:]] == keys[order[:-1]]
        inside = np.full(m, -1, dtype=np.int64)
        inside[order[1:][same]] = order[:-1][same] + (self._base + start)
        # otherwise, the hash table's: the same key, still in the history and within reach
        hashes = self._hash(keys)
        here = np.arange(m, dtype=np.int64) + (self._base + start)
        before = self._positions[hashes]
        usable = (before >= self._base) & (self._keys[hashes] == keys) & (here - before < HISTORY_SIZE)
        return keys, hashes, np.where(inside >= 0, inside, np.where(usable, before, -1))

    def _choose_matches(self, start: int, n: int, candidates: np.ndarray, nbits: np.ndarray,
                        codes: np.ndarray) -> None:
        """Greedy parse: at each candidate position not inside an earlier match, take the match
        if its tokens cost fewer bits than the literals they replace."""
        literal_cost = np.concatenate(([0], np.cumsum(nbits[0::2]))).tolist()
        buf, base = self._buf, self._base
        covered_until = 0
        where = np.flatnonzero(candidates >= 0)
        chosen: list[tuple[int, int, int, int, int, int]] = []
        for i, source in zip(where.tolist(), (candidates[where] - base).tolist()):
            if i < covered_until:
                continue
            length = _common_length(buf, source, start + i, n - i)
            dcode, dbits = distance_token(start + i - source)
            lcode, lbits = length_token(length)
            if dbits + lbits < literal_cost[i + length] - literal_cost[i]:
                chosen.append((i, length, dcode, dbits, lcode, lbits))
                covered_until = i + length
        if not chosen:
            return
        at, lengths, dcodes, dbits_, lcodes, lbits_ = (np.array(column) for column in zip(*chosen))
        # the bytes a match covers emit nothing: mark them through a running sum of +1/-1
        inside = np.zeros(n + 1, dtype=np.int64)
        np.add.at(inside, at + 1, 1)
        np.add.at(inside, at + lengths, -1)
        nbits[0::2][np.cumsum(inside[:n]) > 0] = 0
        codes[2 * at], nbits[2 * at] = dcodes.astype(np.uint64), dbits_
        codes[2 * at + 1], nbits[2 * at + 1] = lcodes.astype(np.uint64), lbits_

    def _remember(self, start: int, keys: np.ndarray, hashes: np.ndarray) -> None:
        """Each hash now points at the segment's last position with it."""
        last_first = hashes[::-1]
        unique, index = np.unique(last_first, return_index=True)
        last = len(keys) - 1 - index
        self._positions[unique] = last + (self._base + start)
        self._keys[unique] = keys[last]


def _common_length(buf: bytearray, source: int, target: int, limit: int) -> int:
    """How many bytes from ``source`` equal those from ``target`` (at most ``limit``; the first
    4 are known equal). Slices compare in C: grow the step while they match, then halve it."""
    length, step = Compressor.KEY, Compressor.KEY
    while length < limit and step:
        k = min(step, limit - length)
        if buf[source + length:source + length + k] == buf[target + length:target + length + k]:
            length += k
            step *= 2
        else:
            step = k // 2
    return length


# -- decoding (tests, and checking the compressor) ------------------------------------------


def _prefix_table() -> dict[tuple[int, int], tuple[str, int, int]]:
    """(prefix length, prefix code) -> ("literal", byte or -1 for 8 value bits, 0) or
    ("match", value bits, base)."""
    table: dict[tuple[int, int], tuple[str, int, int]] = {(1, 0): ("literal", -1, 0)}
    for byte, (code, length) in SHORT_LITERALS.items():
        table[(length, code)] = ("literal", byte, 0)
    for code, length, value_bits, base in DISTANCES:
        table[(length, code)] = ("match", value_bits, base)
    return table


PREFIXES = _prefix_table()
MAX_PREFIX = max(length for length, _ in PREFIXES)


class _Bits:
    """A segment's bit stream, most significant bit first, ``total`` bits long."""

    def __init__(self, payload: bytes, total: int) -> None:
        self.text = bin(int.from_bytes(b"\x01" + payload, "big"))[3:]  # leading zeros kept
        self.total = total
        self.pos = 0

    def read(self, n: int, what: str) -> int:
        if self.pos + n > self.total:
            raise RemoteProtocolError(f"ZGFX {what} cut off by the end of the segment")
        value = int(self.text[self.pos:self.pos + n] or "0", 2)
        self.pos += n
        return value


class Decompressor:
    """One receiver's history, as the client keeps it: ``segment(bulk)`` decodes one
    RDP8_BULK_ENCODED_DATA and appends what it carried to the ring."""

    def __init__(self) -> None:
        self._ring = bytearray(HISTORY_SIZE)
        self._index = 0
        self.written = 0  # bytes ever appended: a match may not reach further back

    def segment(self, bulk: bytes) -> bytes:
        if len(bulk) < 2:
            raise RemoteProtocolError(f"RDP8 bulk data of {len(bulk)} bytes")
        header, payload = bulk[0], bulk[1:]
        if header & 0x0F != PACKET_COMPR_TYPE_RDP8:
            raise RemoteProtocolError(f"RDP8 bulk data of compression type {header & 0x0F:#x}")
        if not header & PACKET_COMPRESSED:
            if len(payload) > SEGMENT_OUTPUT_MAX:
                raise RemoteProtocolError(f"raw RDP8 segment of {len(payload)} bytes")
            self._append(payload)
            return bytes(payload)
        return self._decode(payload)

    def _decode(self, payload: bytes) -> bytes:
        unused = payload[-1]
        if unused > 7:
            raise RemoteProtocolError(f"ZGFX segment says its last {unused} bits are unused")
        bits = _Bits(payload[:-1], 8 * (len(payload) - 1) - unused)
        out = bytearray()
        while bits.pos < bits.total:
            kind, a, b = self._prefix(bits)
            if kind == "literal":
                chunk = bytes([a if a >= 0 else bits.read(8, "literal")])
            else:
                distance = b + bits.read(a, "match distance")
                chunk = self._raw_run(bits, payload) if distance == 0 else self._match(distance, self._length(bits))
            if len(out) + len(chunk) > SEGMENT_OUTPUT_MAX:
                raise RemoteProtocolError(f"ZGFX segment decodes to more than {SEGMENT_OUTPUT_MAX} bytes")
            out += chunk
            self._append(chunk)
        return bytes(out)

    @staticmethod
    def _prefix(bits: _Bits) -> tuple[str, int, int]:
        code = 0
        for length in range(1, MAX_PREFIX + 1):
            code = (code << 1) | bits.read(1, "token prefix")
            token = PREFIXES.get((length, code))
            if token is not None:
                return token
        raise RemoteProtocolError(f"ZGFX token prefix {code:0{MAX_PREFIX}b} is not in the token table")

    @staticmethod
    def _length(bits: _Bits) -> int:
        if bits.read(1, "match length") == 0:
            return MIN_MATCH
        count, extra = 4, 2
        while bits.read(1, "match length"):
            count, extra = count * 2, extra + 1
            if count > SEGMENT_OUTPUT_MAX:
                raise RemoteProtocolError("ZGFX match length longer than a segment")
        return count + bits.read(extra, "match length")

    def _match(self, distance: int, length: int) -> bytes:
        if distance > min(self.written, HISTORY_SIZE):
            raise RemoteProtocolError(f"ZGFX match {distance} bytes back, {self.written} in the history")
        period = self._read(distance, min(distance, length))
        return (period * (length // distance + 1))[:length]

    @staticmethod
    def _raw_run(bits: _Bits, payload: bytes) -> bytes:
        count = bits.read(15, "raw run count")
        bits.pos += -bits.pos % 8  # the bytes start at the next byte boundary
        start = bits.pos // 8
        if bits.pos + 8 * count > bits.total:
            raise RemoteProtocolError(f"ZGFX raw run of {count} bytes runs past the segment")
        bits.pos += 8 * count
        return bytes(payload[start:start + count])

    def _read(self, distance: int, count: int) -> bytes:
        start = (self._index - distance) % HISTORY_SIZE
        if start + count <= HISTORY_SIZE:
            return bytes(self._ring[start:start + count])
        return bytes(self._ring[start:] + self._ring[:count - (HISTORY_SIZE - start)])

    def _append(self, data: bytes) -> None:
        data = data[-HISTORY_SIZE:]
        end = self._index + len(data)
        if end <= HISTORY_SIZE:
            self._ring[self._index:end] = data
        else:
            front = HISTORY_SIZE - self._index
            self._ring[self._index:] = data[:front]
            self._ring[:end - HISTORY_SIZE] = data[front:]
        self._index = end % HISTORY_SIZE
        self.written += len(data)
