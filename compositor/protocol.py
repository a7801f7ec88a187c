"""Sans-IO framing of the session host's local protocol (see docs/session-host-protocol.md).

Bytes in, messages out; messages in, bytes out. No sockets here, so both ends and the
property tests use the same code. A ``Message`` is one frame's JSON header and payload;
``compositor/messages.py`` gives each op its typed dataclass on top of this.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_FRAME = 64 * 1024 * 1024
MAX_HEADER = 64 * 1024
_PREFIX = struct.Struct(">IH")
# Headers are compact UTF-8 JSON. orjson writes and reads them ~10x faster than the standard
# library's json (a keystroke's frame header: ~0.2 µs against ~2 µs each way). Reading, it
# refuses lone surrogates, NaN, infinities and nesting deeper than 1024 (the standard decoder
# ran out of stack on deep nesting: RecursionError, not a protocol error); integers past 64
# bits come back as floats, which the typed messages refuse where they want an integer.
# Writing, it refuses integers past 64 bits and lone surrogates and writes NaN as null;
# non-string keys become strings, as with json; dataclasses and datetimes are not turned into
# JSON on their own, so a value of the wrong type is still an error here.
_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


class RemoteProtocolError(Exception):
    """The peer sent something that is not this protocol. From the framing: close the
    connection; from a message's fields (``compositor.messages``): the host answers with an
    error and keeps the connection."""


class LocalProtocolError(Exception):
    """We were asked to send something the protocol cannot carry."""


@dataclass(frozen=True)
class Message:
    header: dict[str, Any]
    payload: bytes = field(default=b"", repr=False)

    @property
    def op(self) -> str:
        return self.header["op"]

    def get(self, key: str, default: Any = None) -> Any:
        return self.header.get(key, default)


def encode_message(header: dict[str, Any], payload: bytes | bytearray | memoryview = b"") -> bytes:
    if "op" not in header:
        raise LocalProtocolError("message header needs an 'op'")
    try:
        head = orjson.dumps(header, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise LocalProtocolError(f"message header cannot be sent as JSON: {exc}") from None
    if len(head) > MAX_HEADER:
        raise LocalProtocolError(f"header of {len(head)} bytes exceeds {MAX_HEADER}")
    length = 2 + len(head) + len(payload)
    if length > MAX_FRAME:
        raise LocalProtocolError(f"frame of {length} bytes exceeds {MAX_FRAME}")
    return b"".join((_PREFIX.pack(length, len(head)), head, payload))


class HostProtocol:
    """Incremental decoder: feed bytes with ``receive_data``, take ``Message``s with ``events``."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._messages: list[Message] = []

    def receive_data(self, data: bytes) -> None:
        if self._buffer:
            self._buffer += data
            data = bytes(self._buffer)
        elif type(data) is not bytes:
            data = bytes(data)
        # Whole messages are cut from ``data`` itself (a frame usually comes in one read: no
        # copy through the buffer); an incomplete one waits in the buffer for the rest.
        offset, end = 0, len(data)
        try:
            while end - offset >= 4:
                length, head_len = _PREFIX.unpack_from(data, offset) if end - offset >= 6 else (
                    struct.unpack_from(">I", data, offset)[0], None)
                if length > MAX_FRAME or length < 2:
                    raise RemoteProtocolError(f"frame length {length} out of range")
                if end - offset < 4 + length:
                    break
                if head_len > length - 2:
                    raise RemoteProtocolError(f"header length {head_len} exceeds frame length {length}")
                start = offset + 6
                try:
                    header = orjson.loads(data[start:start + head_len])
                except orjson.JSONDecodeError as exc:
                    raise RemoteProtocolError(f"header is not JSON: {exc}") from None
                if not isinstance(header, dict) or not isinstance(header.get("op"), str):
                    raise RemoteProtocolError("header must be a JSON object with a string 'op'")
                self._messages.append(Message(header, data[start + head_len:offset + 4 + length]))
                offset += 4 + length
        finally:
            self._buffer = bytearray(data[offset:]) if offset < end else bytearray()

    def events(self) -> list[Message]:
        messages, self._messages = self._messages, []
        return messages

    @property
    def buffered(self) -> int:
        return len(self._buffer)
