"""Sans-IO framing of the session host's local protocol (see docs/session-host-protocol.md).

Bytes in, messages out; messages in, bytes out. No sockets here, so both ends and the
property tests use the same code. A ``Message`` is one frame's JSON header and payload;
``compositor/messages.py`` gives each op its typed dataclass on top of this.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

MAX_FRAME = 64 * 1024 * 1024
MAX_HEADER = 64 * 1024
_PREFIX = struct.Struct(">IH")


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
        head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise LocalProtocolError("message header has text that is not Unicode (a lone surrogate)") from None
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
        self._buffer += data
        while len(self._buffer) >= 4:
            (length,) = struct.unpack_from(">I", self._buffer)
            if length > MAX_FRAME or length < 2:
                raise RemoteProtocolError(f"frame length {length} out of range")
            if len(self._buffer) < 4 + length:
                return
            (head_len,) = struct.unpack_from(">H", self._buffer, 4)
            if head_len > length - 2:
                raise RemoteProtocolError(f"header length {head_len} exceeds frame length {length}")
            head = bytes(self._buffer[6:6 + head_len])
            payload = bytes(self._buffer[6 + head_len:4 + length])
            del self._buffer[:4 + length]
            try:
                header = json.loads(head)
            except (UnicodeDecodeError, ValueError) as exc:
                raise RemoteProtocolError(f"header is not JSON: {exc}") from None
            if not isinstance(header, dict) or not isinstance(header.get("op"), str):
                raise RemoteProtocolError("header must be a JSON object with a string 'op'")
            self._messages.append(Message(header, payload))

    def events(self) -> list[Message]:
        messages, self._messages = self._messages, []
        return messages

    @property
    def buffered(self) -> int:
        return len(self._buffer)
