"""[RFC 4178] / [MS-SPNG] SPNEGO around NTLM, the server's side, for CredSSP clients that wrap
their NTLM messages (pyspnego's and Windows' "Negotiate" package do).

The tokens are read and written with pyspnego's SPNEGO structures (``spnego._spnego``:
``NegTokenInit``, ``NegTokenResp``, the MechTypeList packing), internal to the pinned
pyspnego like the NTLM primitives ``ntlm.py`` uses; any parse failure is the peer's error.
Only NTLM is taken as the mechanism.
"""

from __future__ import annotations

from spnego._spnego import NegState, NegTokenInit, NegTokenResp, pack_mech_type_list, unpack_token

from rdpfront.errors import RemoteProtocolError
from rdpfront.ntlm import NtlmAcceptor

NTLM_OID = "1.3.6.1.4.1.311.2.2.10"
MAX_TOKEN = 16384


def _unpack(token: bytes) -> object:
    if len(token) > MAX_TOKEN:
        raise RemoteProtocolError(f"SPNEGO token of {len(token)} bytes")
    try:
        return unpack_token(token)
    except Exception as exc:  # pyspnego raises ValueError, NotImplementedError, struct.error, ...
        raise RemoteProtocolError(f"malformed SPNEGO token: {exc}") from None


class SpnegoLayer:
    """What SPNEGO adds: the client's mechanism list (its MIC's input), our choice of NTLM."""

    def __init__(self) -> None:
        self.mech_types: list[str] = []
        self._chosen_sent = False
        self._mic_received = False

    def first(self, token: bytes) -> bytes | None:
        """The client's first token: its NTLM NEGOTIATE when NTLM is its first choice, or None
        when NTLM must be chosen first (``choose``). The NegTokenResp that follows ``choose``
        carries the NEGOTIATE too."""
        message = _unpack(token)
        if isinstance(message, NegTokenResp) and self.mech_types and self._chosen_sent:
            return self._ntlm_token(message.response_token, "NegTokenResp")
        if not isinstance(message, NegTokenInit):
            raise RemoteProtocolError(f"expected a SPNEGO NegTokenInit, got {type(message).__name__}")
        self.mech_types = [str(m) for m in message.mech_types]
        if NTLM_OID not in self.mech_types:
            raise RemoteProtocolError(f"SPNEGO offers {', '.join(self.mech_types) or 'nothing'}; only NTLM is taken")
        if self.mech_types[0] != NTLM_OID or not message.mech_token:
            return None
        return self._ntlm_token(message.mech_token, "NegTokenInit")

    def choose(self) -> bytes:
        """NTLM chosen, no mechanism token yet: the client sends its NTLM NEGOTIATE next."""
        self._chosen_sent = True
        return NegTokenResp(neg_state=NegState.accept_incomplete, supported_mech=NTLM_OID).pack()

    def incomplete(self, challenge: bytes) -> bytes:
        supported = None if self._chosen_sent else NTLM_OID
        self._chosen_sent = True
        return NegTokenResp(neg_state=NegState.accept_incomplete, supported_mech=supported,
                            response_token=challenge).pack()

    def response(self, token: bytes) -> tuple[bytes, bytes | None]:
        """The client's NegTokenResp: its NTLM AUTHENTICATE and its mechListMIC (if any)."""
        message = _unpack(token)
        if not isinstance(message, NegTokenResp):
            raise RemoteProtocolError(f"expected a SPNEGO NegTokenResp, got {type(message).__name__}")
        self._mic_received = message.mech_list_mic is not None
        return self._ntlm_token(message.response_token, "NegTokenResp"), message.mech_list_mic

    def check_mic(self, ntlm: NtlmAcceptor, mic: bytes) -> bool:
        """[MS-SPNG 3.3.5.1] The client's mechListMIC: NTLM's signature of its mechanism list."""
        return ntlm.verify_mech_list(pack_mech_type_list(self.mech_types), mic)

    def completed(self, ntlm: NtlmAcceptor) -> bytes:
        """The last token: accept-completed, with our mechListMIC when the client sent one."""
        mic = ntlm.sign_mech_list(pack_mech_type_list(self.mech_types)) if self._mic_received else None
        return NegTokenResp(neg_state=NegState.accept_complete, mech_list_mic=mic).pack()

    @staticmethod
    def _ntlm_token(token: bytes | None, where: str) -> bytes:
        if not token or not token.startswith(b"NTLMSSP\x00"):
            raise RemoteProtocolError(f"SPNEGO {where} without an NTLM token")
        return token
