"""What a virtual channel plug-in is, and what the active session offers it.

A static channel plug-in gets each whole message the client sent on its MCS channel (the
session reassembles the chunks, bounded by the plug-in's ``max_message``); a dynamic channel
plug-in gets each whole message of its DVC (reassembled by the drdynvc plug-in, bounded by
``dvc.MAX_MESSAGE``). Plug-ins answer the client through ``host.write`` and raise
``RemoteProtocolError`` for anything malformed, which closes that one connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

from rdpfront import events, svc, wire

if TYPE_CHECKING:
    from rdpfront.acceptor import AcceptorResult
    from rdpfront.channels.drdynvc import DynamicChannels


class ChannelHost(Protocol):
    """The active session, as its channel plug-ins see it."""

    accepted: AcceptorResult
    log_context: str
    disabled_channels: frozenset[str]
    gfx_compression: bool
    dynamic_registry: dict[str, type[DynamicChannel]]
    width: int
    height: int

    def write(self, data: bytes) -> None: ...

    def emit(self, event: events.Event) -> None: ...

    def set_size(self, width: int, height: int) -> None: ...

    def require_active(self, what: str) -> None: ...

    def channel(self, name: str) -> StaticChannel | DynamicChannel | None: ...


class StaticChannel:
    """A plug-in for one static virtual channel the client joined ([MS-RDPBCGR 2.2.6])."""

    name: ClassVar[str]
    max_message: ClassVar[int] = svc.MAX_CHANNEL_MESSAGE  # bound on one reassembled message

    def __init__(self, host: ChannelHost, channel_id: int) -> None:
        self.host = host
        self.channel_id = channel_id

    def start(self) -> None:
        """The connection is active for the first time: say hello if the protocol wants it."""

    def receive(self, message: bytes) -> None:
        """One whole message from the client."""

    def subchannel(self, name: str) -> DynamicChannel | None:
        """A channel carried inside this one (the dynamic channels of drdynvc)."""
        return None

    def encode(self, message: bytes) -> bytes:
        """The bytes that carry ``message`` to the client (chunked)."""
        return wire.channel_data(self.channel_id, message)


class DynamicChannel:
    """A plug-in for one dynamic virtual channel, opened by the server over drdynvc ([MS-RDPEDYC])."""

    name: ClassVar[str]

    def __init__(self, host: ChannelHost, drdynvc: DynamicChannels, channel_id: int) -> None:
        self.host = host
        self.drdynvc = drdynvc
        self.channel_id = channel_id

    @classmethod
    def wanted(cls, host: ChannelHost) -> bool:
        """Whether to ask this client for the channel at all."""
        return True

    @property
    def open(self) -> bool:
        return self.drdynvc.is_open(self.channel_id)

    def opened(self) -> None:
        """The client accepted the channel."""

    def refused(self) -> None:
        """The client has no listener for the channel (a failed Create Response)."""

    def receive(self, message: bytes) -> None:
        """One whole message from the client."""

    def closed(self) -> None:
        """The client closed the channel."""

    def encode(self, message: bytes) -> bytes:
        """The bytes that carry ``message`` to the client (split into DVC PDUs, then chunked)."""
        return self.drdynvc.encode_message(self.channel_id, message)
