"""One table of every parser: name -> (decode bytes -> PDU, encode PDU -> bytes).

Used by the table tests, the property tests and the fuzz run, so a new parser is covered by
all three once it is listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rdpfront import ber, cliprdr, dib, disp, dvc, gfx, mcs, x224
from rdpfront.bitmap import BitmapData, BitmapUpdate
from rdpfront.cursor import Reader, Writer, decode, encode
from rdpfront.fastpath import FastPathOutput, FastPathUpdate
from rdpfront.gcc import (
    ClientCoreData,
    ClientGccBlocks,
    ClientMonitorData,
    ClientMonitorExtendedData,
    ClientNetworkData,
    ConferenceCreateRequest,
    ConferenceCreateResponse,
    ServerGccBlocks,
)
from rdpfront.input import FastPathInput, InputPdu
from rdpfront.monitors import MonitorLayoutPdu
from rdpfront.orders import OrdersUpdate
from rdpfront.pointer import ColorPointer, LargePointer, PointerPosition
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.autoreconnect import ClientAutoReconnect, LogonInfoExtended, ServerAutoReconnect
from rdpfront.rdp.client_info import ClientInfo, ExtendedInfo
from rdpfront.rdp.headers import BasicSecurityHeader, ShareControlHeader, ShareDataHeader
from rdpfront.rdp.licensing import LicenseErrorMessage, LicensingMessage
from rdpfront.rdp.pdus import ConfirmActive, DemandActive, ShareControlPdu, ShareDataPdu
from rdpfront.svc import ChannelPdu
from rdpfront.tpkt import TpktHeader


def _plain(cls: type) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    return (lambda data: decode(cls, data, exact=False)), encode


def _capability() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    def enc(cap: Any) -> bytes:
        w = Writer()
        caps.encode_capability(w, cap)
        return w.getvalue()
    return (lambda data: caps.decode_capability(Reader(data))), enc


def _share_control() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    def dec(data: bytes) -> Any:
        pdu = ShareControlPdu.decode(Reader(data))
        return pdu
    def enc(pdu: Any) -> bytes:
        if not isinstance(pdu, ShareControlPdu):
            return b"\x00\x80" + pdu.data
        return encode(pdu)
    return dec, enc


def _ber(read: Callable[[Reader], int], write: Callable[[Writer, int], None]) -> tuple[
        Callable[[bytes], Any], Callable[[Any], bytes]]:
    def enc(value: int) -> bytes:
        w = Writer()
        write(w, value)
        return w.getvalue()
    return (lambda data: read(Reader(data))), enc


def _gcc_blocks(cls: type) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    return cls.decode_bytes, encode


PARSERS: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], bytes]]] = {
    "tpkt": _plain(TpktHeader),
    "x224.connection_request": _plain(x224.ConnectionRequest),
    "x224.connection_confirm": _plain(x224.ConnectionConfirm),
    "x224.disconnect_request": _plain(x224.DisconnectRequest),
    "ber.integer": _ber(ber.read_integer, ber.write_integer),
    "ber.length": _ber(ber.read_length, ber.write_length),
    "mcs.connect_initial": _plain(mcs.ConnectInitial),
    "mcs.connect_response": _plain(mcs.ConnectResponse),
    "mcs.domain_pdu": ((lambda data: mcs.decode_domain_pdu(Reader(data))), encode),
    "gcc.conference_create_request": _plain(ConferenceCreateRequest),
    "gcc.conference_create_response": _plain(ConferenceCreateResponse),
    "gcc.client_blocks": _gcc_blocks(ClientGccBlocks),
    "gcc.server_blocks": _gcc_blocks(ServerGccBlocks),
    "gcc.client_core": _plain(ClientCoreData),
    "gcc.client_network": _plain(ClientNetworkData),
    "gcc.client_monitor": _plain(ClientMonitorData),
    "gcc.client_monitor_ex": _plain(ClientMonitorExtendedData),
    "monitor_layout_pdu": _plain(MonitorLayoutPdu),
    "security_header": _plain(BasicSecurityHeader),
    "client_info": _plain(ClientInfo),
    "extended_info": _plain(ExtendedInfo),
    "autoreconnect.server_packet": _plain(ServerAutoReconnect),
    "autoreconnect.client_packet": _plain(ClientAutoReconnect),
    "autoreconnect.logon_info_extended": _plain(LogonInfoExtended),
    "licensing.message": _plain(LicensingMessage),
    "licensing.error": _plain(LicenseErrorMessage),
    "share_control_header": _plain(ShareControlHeader),
    "share_data_header": _plain(ShareDataHeader),
    "share_control_pdu": _share_control(),
    "share_data_pdu": _plain(ShareDataPdu),
    "demand_active": _plain(DemandActive),
    "confirm_active": _plain(ConfirmActive),
    "capability_set": _capability(),
    "slow_path_input": _plain(InputPdu),
    "fastpath_input": _plain(FastPathInput),
    "fastpath_output": _plain(FastPathOutput),
    "fastpath_update": _plain(FastPathUpdate),
    "orders_update": _plain(OrdersUpdate),
    "bitmap_data": _plain(BitmapData),
    "bitmap_update": _plain(BitmapUpdate),
    "pointer.position": _plain(PointerPosition),
    "pointer.color": _plain(ColorPointer),
    "pointer.new": ((lambda data: ColorPointer.decode_new(Reader(data))), encode),
    "pointer.large": _plain(LargePointer),
    "svc.channel_pdu": _plain(ChannelPdu),
    "cliprdr": (cliprdr.decode_clipboard, cliprdr.encode_clipboard),
    "cliprdr.file_list": (cliprdr.FileList.decode, cliprdr.FileList.encode),
    # CF_DIB / CF_DIBV5 in, pixels out; written back as a DIBV5 (which keeps alpha)
    "dib": (dib.decode_dib, (lambda image: dib.encode_dib(image, v5=True))),
    "dvc.from_client": (dvc.decode_dvc, dvc.encode_dvc),
    "dvc.from_server": ((lambda data: dvc.decode_dvc(data, from_server=True)), dvc.encode_dvc),
    "disp": (disp.decode_disp, disp.encode_disp),
    "gfx.client": (gfx.decode_client, gfx.encode_client),
    "gfx.segmented": (gfx.unsegment, (lambda data: gfx.segmented([data]))),
}
