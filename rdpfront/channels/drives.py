"""Drive redirection on the static channel "rdpdr" ([MS-RDPEFS]), sans-IO.

Once active the server announces itself; the client's name is answered with the server's
capabilities (General, Drive) and its client id; the client's capabilities with User Logged
On, after which the client announces its devices. File system devices are accepted and
raised as ``DriveAnnounced`` (up to ``MAX_DRIVES``); every other device type (printers, ports,
smart cards) is answered with STATUS_NOT_SUPPORTED.

``request(device_id, file_id, body)`` makes one Device I/O Request and returns its completion
id and bytes; the client's Device I/O Response is raised as ``DriveIoCompleted`` with the body
decoded for the function asked for. A response naming no outstanding request (one that timed
out, or a client's invention) is logged and dropped; a response whose body cannot be read
fails that request only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from compositor.messages import MAX_DRIVE_IO
from rdpfront import events, rdpdr
from rdpfront.channels.base import StaticChannel
from rdpfront.errors import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)

MAX_DRIVES = 8  # accepted per connection
MAX_OUTSTANDING = 1024  # I/O requests waiting for their completion


@dataclass(frozen=True)
class _Outstanding:
    device_id: int
    major: int


class DriveChannel(StaticChannel):
    name = rdpdr.CHANNEL_NAME
    # The largest message a client sends is a read's completion: the data and its header.
    max_message = MAX_DRIVE_IO + 4096

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.client_id = 1
        self.client_name = ""
        self.drives: dict[int, str] = {}  # device id -> name, as the client announced
        self.client_capabilities: rdpdr.ClientCapabilities | None = None
        self._outstanding: dict[int, _Outstanding] = {}
        self._next_completion = 1

    @property
    def available(self) -> bool:
        return self.client_capabilities is not None

    def start(self) -> None:
        self._send(rdpdr.ServerAnnounce(client_id=self.client_id))

    def receive(self, message: bytes) -> None:
        pdu = rdpdr.decode_client(message)
        if not isinstance(pdu, rdpdr.IoCompletion):
            log.debug("%s rdpdr <- %s", self.host.log_context, pdu)
        match pdu:
            case rdpdr.ClientAnnounceReply():
                if pdu.client_id != self.client_id:
                    log.info("%s rdpdr: client answered with client id %d, not %d", self.host.log_context,
                             pdu.client_id, self.client_id)
            case rdpdr.ClientName(computer_name=name):
                self.client_name = name
                self._send(rdpdr.ServerCapabilities.ours())
                self._send(rdpdr.ServerClientIdConfirm(1, 0x000C, self.client_id))
            case rdpdr.ClientCapabilities():
                self.client_capabilities = pdu
                self._send(rdpdr.UserLoggedOn())
            case rdpdr.DeviceListAnnounce(devices=devices):
                for device in devices:
                    self._announced(device)
            case rdpdr.DeviceListRemove(device_ids=ids):
                for device_id in ids:
                    if self.drives.pop(device_id, None) is not None:
                        self.host.emit(events.DriveRemoved(device_id))
            case rdpdr.IoCompletion():
                self._completed(pdu)
            case _:
                log.info("%s rdpdr: %s ignored", self.host.log_context, pdu)

    def _announced(self, device: rdpdr.DeviceAnnounce) -> None:
        if device.device_type != rdpdr.DeviceType.RDPDR_DTYP_FILESYSTEM:
            log.info("%s rdpdr: device %d of type %#x refused (only file systems are served)",
                     self.host.log_context, device.device_id, device.device_type)
            self._send(rdpdr.DeviceReply(device.device_id, rdpdr.NtStatus.STATUS_NOT_SUPPORTED))
            return
        if device.device_id in self.drives or len(self.drives) >= MAX_DRIVES:
            log.warning("%s rdpdr: drive %d refused (%s)", self.host.log_context, device.device_id,
                        "announced twice" if device.device_id in self.drives else f"over {MAX_DRIVES} drives")
            self._send(rdpdr.DeviceReply(device.device_id, rdpdr.NtStatus.STATUS_UNSUCCESSFUL))
            return
        self.drives[device.device_id] = device.display_name
        self._send(rdpdr.DeviceReply(device.device_id, rdpdr.NtStatus.STATUS_SUCCESS))
        self.host.emit(events.DriveAnnounced(device.device_id, device.display_name))

    def _completed(self, pdu: rdpdr.IoCompletion) -> None:
        outstanding = self._outstanding.pop(pdu.completion_id, None)
        if outstanding is None:
            log.info("%s rdpdr: completion %d answers no outstanding request; dropped", self.host.log_context,
                     pdu.completion_id)
            return
        status, response = pdu.status, None
        if outstanding.device_id != pdu.device_id:
            log.warning("%s rdpdr: completion %d names device %d, its request device %d; failed",
                        self.host.log_context, pdu.completion_id, pdu.device_id, outstanding.device_id)
            status = rdpdr.NtStatus.STATUS_UNSUCCESSFUL
        elif status == rdpdr.NtStatus.STATUS_SUCCESS:
            try:
                response = rdpdr.decode_response(outstanding.major, pdu.body)
            except RemoteProtocolError as exc:
                log.warning("%s rdpdr: completion %d unreadable: %s; failed", self.host.log_context,
                            pdu.completion_id, exc)
                status = rdpdr.NtStatus.STATUS_UNSUCCESSFUL
        self.host.emit(events.DriveIoCompleted(pdu.completion_id, status, response))

    # ---- what the relay uses -------------------------------------------------------------------

    def request(self, device_id: int, file_id: int, body: rdpdr.IoBody) -> tuple[int, bytes]:
        """One I/O request to the client: its completion id and the bytes to send."""
        if device_id not in self.drives:
            raise LocalProtocolError(f"no drive {device_id}")
        if len(self._outstanding) >= MAX_OUTSTANDING:
            raise LocalProtocolError(f"{MAX_OUTSTANDING} I/O requests are outstanding already")
        completion_id = self._next_completion
        while completion_id in self._outstanding:
            completion_id = completion_id % 0xFFFFFFFF + 1
        self._next_completion = completion_id % 0xFFFFFFFF + 1
        self._outstanding[completion_id] = _Outstanding(device_id, body.MAJOR)
        pdu = rdpdr.IoRequest(device_id, file_id, completion_id, body)
        return completion_id, self.encode(pdu.to_bytes())

    def forget(self, completion_id: int) -> None:
        """The request timed out: a late completion is dropped."""
        self._outstanding.pop(completion_id, None)

    def _send(self, pdu: rdpdr.RdpdrPdu) -> None:
        log.debug("%s rdpdr -> %s", self.host.log_context, pdu)
        self.host.write(self.encode(pdu.to_bytes()))
