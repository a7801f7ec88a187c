"""DRDYNVC on the static channel "drdynvc" ([MS-RDPEDYC]): the dynamic channels, each a
plug-in of the dynamic registry (``channels.registry.DYNAMIC_CHANNELS``).

Once active the server sends the Capabilities Request (version 1); on the client's answer it
asks for every registered dynamic channel the plug-in wants for this client, with the id of
its place in the registry. Data on a channel that is not open, a Create Response for a
channel never asked for, or a client PDU the server never expects close the connection.
"""

from __future__ import annotations

import logging

from rdpfront import dvc
from rdpfront.channels.base import DynamicChannel, StaticChannel
from rdpfront.errors import RemoteProtocolError

log = logging.getLogger(__name__)


class DynamicChannels(StaticChannel):
    name = dvc.CHANNEL_NAME

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.pieces = dvc.DvcReassembler()
        self.version: int | None = None  # the client's capabilities version, once it answered
        self.channels: dict[int, DynamicChannel] = {}  # asked for: channel id -> plug-in
        self.open_ids: set[int] = set()

    def _wanted(self) -> list[tuple[int, type[DynamicChannel]]]:
        """(our channel id, plug-in class) of the channels to ask this client for."""
        host = self.host
        return [(i, cls) for i, (name, cls) in enumerate(host.dynamic_registry.items(), 1)
                if name not in host.disabled_channels and cls.wanted(host)]

    def start(self) -> None:
        if self._wanted():
            self.host.write(self._send(dvc.CapsRequest(version=1)))

    def is_open(self, channel_id: int) -> bool:
        return channel_id in self.open_ids

    def subchannel(self, name: str) -> DynamicChannel | None:
        """The plug-in asked for under ``name`` (open or not), if any."""
        return next((c for c in self.channels.values() if c.name == name), None)

    def receive(self, message: bytes) -> None:
        pdu = dvc.decode_dvc(message)
        log.debug("%s drdynvc <- %s", self.host.log_context, pdu)
        if isinstance(pdu, dvc.CapsResponse):
            if self.version is not None:
                return  # a repeated answer: the channels are already asked for
            self.version = pdu.version
            for channel_id, cls in self._wanted():
                self.channels[channel_id] = cls(self.host, self, channel_id)
                self.host.write(self._send(dvc.CreateRequest(channel_id, cls.name)))
        elif isinstance(pdu, dvc.CreateResponse):
            plugin = self.channels.get(pdu.channel_id)
            if plugin is None:
                raise RemoteProtocolError(f"DVC Create Response for channel {pdu.channel_id}, never asked for")
            if not pdu.ok:
                log.info("%s client has no %s (status %#x)", self.host.log_context, plugin.name,
                         pdu.status & 0xFFFFFFFF)
                plugin.refused()
                return
            self.open_ids.add(pdu.channel_id)
            plugin.opened()
        elif isinstance(pdu, dvc.DataFirst | dvc.Data):
            if pdu.channel_id not in self.open_ids:
                raise RemoteProtocolError(f"DVC data on channel {pdu.channel_id}, which is not open")
            whole = self.pieces.push(pdu)
            if whole is not None:
                self.channels[pdu.channel_id].receive(whole)
        elif isinstance(pdu, dvc.Close):
            self.open_ids.discard(pdu.channel_id)
            self.pieces.drop(pdu.channel_id)
            plugin = self.channels.get(pdu.channel_id)
            if plugin is not None:
                plugin.closed()
        else:
            raise RemoteProtocolError(f"unexpected {type(pdu).__name__} from the client on drdynvc")

    def encode_message(self, channel_id: int, message: bytes) -> bytes:
        """One message on a dynamic channel, split into DVC PDUs, each chunked on drdynvc."""
        return b"".join(self.encode(piece) for piece in dvc.split_message(channel_id, message))

    def _send(self, pdu: dvc.DvcPdu) -> bytes:
        log.debug("%s drdynvc -> %s", self.host.log_context, pdu)
        return self.encode(dvc.encode_dvc(pdu))
