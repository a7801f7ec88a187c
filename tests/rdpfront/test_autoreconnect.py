"""The auto-reconnect PDUs ([MS-RDPBCGR] 2.2.4.2, 2.2.4.3, 2.2.10.1.1.4, 5.5): vectors from a
real xfreerdp 2.11 and from the spec's layout, both directions, malformed input, and property
tests (random bytes raise only ``RemoteProtocolError``; whatever decodes round-trips)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdpfront import mcs, x224
from rdpfront.cursor import Reader, Writer, decode, encode
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.rdp.autoreconnect import (
    ClientAutoReconnect,
    LogonErrorsInfo,
    LogonExFlags,
    LogonInfoExtended,
    ServerAutoReconnect,
    logon_info_extended,
    save_session_info,
)
from rdpfront.rdp.client_info import ClientInfo, ExtendedInfo
from rdpfront.rdp.headers import BasicSecurityHeader, SecurityFlags
from rdpfront.rdp.pdus import SaveSessionInfo, SessionInfoType, ShareDataPdu
from rdpfront.reconnect import client_cookie

from .test_properties import PROFILE
from .vectors import load_hex

# The cookie given to xfreerdp with /reconnect-cookie when 16-client-info-auto-reconnect.hex
# was captured.
FREERDP_COOKIE = ServerAutoReconnect(0x12345678, bytes(range(16)))


def freerdp_client_info() -> tuple[bytes, ClientInfo]:
    frame = load_hex("freerdp-2.11/16-client-info-auto-reconnect.hex")
    pdu = mcs.decode_domain_pdu(Reader(x224.data_payload(frame)))
    assert isinstance(pdu, mcs.SendDataRequest)
    r = Reader(pdu.data)
    assert BasicSecurityHeader.decode(r).flags & SecurityFlags.SEC_INFO_PKT
    return pdu.data, ClientInfo.decode(r)


def test_freerdp_answers_a_cookie_with_the_verifier_computed_here() -> None:
    """xfreerdp computed its SecurityVerifier (HMAC-MD5 keyed with the random, over 32 zero
    bytes: TLS sends no client random) with OpenSSL; ``ServerAutoReconnect.verifier`` agrees."""
    data, info = freerdp_client_info()
    assert (info.username, info.password) == ("x", "y")
    assert info.extended is not None and info.extended.performance_flags is not None
    answer = client_cookie(info)
    assert answer is not None and answer.logon_id == 0x12345678
    assert answer.security_verifier == FREERDP_COOKIE.verifier()
    assert FREERDP_COOKIE.answers(answer)
    assert not ServerAutoReconnect(0x12345678, bytes(16)).answers(answer)
    assert not ServerAutoReconnect(0x12345679, bytes(range(16))).answers(answer)
    assert encode(BasicSecurityHeader(SecurityFlags.SEC_INFO_PKT)) + encode(info) == data
    assert info.extended.tail == answer.client_info_tail()  # FreeRDP writes reserved1 and 2, then stops


def test_client_info_without_a_cookie() -> None:
    info = decode(ClientInfo, load_hex_send_data("freerdp-2.11/06-client-info.hex")[4:])
    assert info.extended is not None and info.extended.auto_reconnect_cookie() is None
    assert client_cookie(info) is None
    assert client_cookie(ClientInfo(0)) is None  # no extended info at all


def load_hex_send_data(name: str) -> bytes:
    pdu = mcs.decode_domain_pdu(Reader(x224.data_payload(load_hex(name))))
    assert isinstance(pdu, mcs.SendDataRequest)
    return pdu.data


def test_logon_info_extended_vector_both_ways() -> None:
    data = load_hex("autoreconnect/logon-info-extended-cookie.hex")
    body = LogonInfoExtended(FREERDP_COOKIE)
    assert encode(body) == data
    assert decode(LogonInfoExtended, data) == body
    assert body.fields_present == LogonExFlags.LOGON_EX_AUTORECONNECTCOOKIE


def test_save_session_info_carries_the_cookie() -> None:
    pdu = save_session_info(FREERDP_COOKIE)
    assert pdu.info_type == SessionInfoType.INFOTYPE_LOGON_EXTENDED_INFO
    assert pdu.info_data == load_hex("autoreconnect/logon-info-extended-cookie.hex")
    wire = encode(ShareDataPdu(0x103EA, pdu))
    again = decode(ShareDataPdu, wire)
    assert isinstance(again.body, SaveSessionInfo) and logon_info_extended(again.body) == LogonInfoExtended(
        FREERDP_COOKIE)
    assert logon_info_extended(SaveSessionInfo.logon(username="a")) is None


def test_length_with_the_pad_counted_is_read_too() -> None:
    """FreeRDP's server counts the 570-byte pad in Length; the decoder takes both forms."""
    data = bytearray(load_hex("autoreconnect/logon-info-extended-cookie.hex"))
    data[0:2] = (38 + 570).to_bytes(2, "little")
    assert decode(LogonInfoExtended, bytes(data)).auto_reconnect == FREERDP_COOKIE


def test_logon_errors_field() -> None:
    body = LogonInfoExtended(FREERDP_COOKIE, LogonErrorsInfo(0xFFFFFFFE, 7))
    assert body.fields_present == LogonExFlags.LOGON_EX_AUTORECONNECTCOOKIE | LogonExFlags.LOGON_EX_LOGONERRORS
    data = encode(body)
    assert data[:2] == (6 + 32 + 12).to_bytes(2, "little") and len(data) == 50 + 570
    assert decode(LogonInfoExtended, data) == body
    assert decode(LogonInfoExtended, encode(LogonInfoExtended())) == LogonInfoExtended()


def _packet(cb_len: int = 28, version: int = 1, logon_id: int = 7, secret: bytes = bytes(16)) -> bytes:
    w = Writer()
    w.u32(cb_len)
    w.u32(version)
    w.u32(logon_id)
    w.write(secret)
    return w.getvalue()


@pytest.mark.parametrize(("data", "message"), [
    (_packet(cb_len=24), "cbLen 24"),
    (_packet(version=2), "version 2"),
    (_packet()[:20], "truncated SecurityVerifier"),
    (_packet() + b"\x00", "trailing"),
    (b"", "truncated"),
])
def test_malformed_client_packets(data: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        ClientAutoReconnect.from_bytes(data)


@pytest.mark.parametrize(("data", "message"), [
    (b"\x26\x00\x04\x00\x00\x00" + bytes(570), "unknown fields"),
    (b"\x27\x00\x01\x00\x00\x00\x1c\x00\x00\x00" + _packet() + bytes(570), "Length 39"),
    (b"\x26\x00\x01\x00\x00\x00\x1d\x00\x00\x00" + _packet() + bytes(571), "trailing"),
    (b"\x26\x00\x01\x00\x00\x00\x1c\x00\x00\x00" + _packet() + bytes(569), "pad"),
    (b"\x26\x00\x01\x00\x00\x00\xff\xff\x00\x00" + _packet(), "cookie field"),
])
def test_malformed_logon_info_extended(data: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        LogonInfoExtended.decode(Reader(data))


def test_packets_of_the_wrong_size_are_not_written() -> None:
    with pytest.raises(LocalProtocolError):
        encode(ServerAutoReconnect(1, bytes(15)))
    with pytest.raises(LocalProtocolError):
        encode(ClientAutoReconnect(1, bytes(17)))


def _info_with_tail(tail: bytes) -> ClientInfo:
    return ClientInfo(0x10, "", "alice", extended=ExtendedInfo(time_zone=bytes(172), session_id=0,
                                                                 performance_flags=0, tail=tail))


def test_a_malformed_cookie_in_the_client_info_is_skipped_with_a_log_line(caplog) -> None:
    caplog.set_level(logging.WARNING)
    assert client_cookie(_info_with_tail(b"\x1c\x00" + _packet(version=9)), "rdp[x]") is None
    assert "rdp[x] malformed auto-reconnect cookie skipped: ARC_CS_PRIVATE_PACKET version 9" in caplog.text
    assert client_cookie(_info_with_tail(b"\x1c\x00" + _packet()[:10]), "rdp[x]") is None
    assert client_cookie(_info_with_tail(b"\x00\x00\x00\x00\x00\x00")) is None  # cbAutoReconnectCookie 0
    good = ClientAutoReconnect(9, bytes(range(16)))
    info = _info_with_tail(good.client_info_tail())
    assert client_cookie(decode(ClientInfo, encode(info))) == good


# ---- properties -------------------------------------------------------------------------------

DECODERS = {
    "server packet": ServerAutoReconnect.decode,
    "client packet": ClientAutoReconnect.decode,
    "logon info extended": LogonInfoExtended.decode,
}
u32 = st.integers(0, 0xFFFFFFFF)


@PROFILE
@given(data=st.binary(max_size=700), name=st.sampled_from(sorted(DECODERS)))
def test_random_bytes_raise_only_remote_errors_and_what_decodes_round_trips(data: bytes, name: str) -> None:
    try:
        pdu = DECODERS[name](Reader(data))
    except RemoteProtocolError:
        return
    assert DECODERS[name](Reader(encode(pdu))) == pdu


@PROFILE
@given(logon_id=u32, bits=st.binary(min_size=16, max_size=16), errors=st.none() | st.tuples(u32, u32),
       with_cookie=st.booleans(), pad_in_length=st.booleans())
def test_logon_info_extended_round_trips(logon_id: int, bits: bytes, errors, with_cookie: bool,
                                         pad_in_length: bool) -> None:
    body = LogonInfoExtended(ServerAutoReconnect(logon_id, bits) if with_cookie else None,
                             LogonErrorsInfo(*errors) if errors else None)
    data = bytearray(encode(body))
    if pad_in_length:
        data[0:2] = (len(data)).to_bytes(2, "little")
    assert decode(LogonInfoExtended, bytes(data)) == body


@PROFILE
@given(logon_id=u32, bits=st.binary(min_size=16, max_size=16), flip=st.integers(0, 127))
def test_only_the_cookies_own_answer_is_taken(logon_id: int, bits: bytes, flip: int) -> None:
    cookie = ServerAutoReconnect(logon_id, bits)
    answer = ClientAutoReconnect.answering(cookie)
    assert ClientAutoReconnect.from_bytes(encode(answer)) == answer and cookie.answers(answer)
    wrong = bytearray(answer.security_verifier)
    wrong[flip // 8] ^= 1 << (flip % 8)
    assert not cookie.answers(ClientAutoReconnect(logon_id, bytes(wrong)))
    assert not cookie.answers(ClientAutoReconnect(logon_id ^ 1, answer.security_verifier))


@PROFILE
@given(tail=st.binary(max_size=64))
def test_any_client_info_tail_gives_a_cookie_or_none(tail: bytes) -> None:
    info = decode(ClientInfo, encode(_info_with_tail(tail)))
    answer = client_cookie(info)
    assert answer is None or encode(answer) == tail[2:30]
