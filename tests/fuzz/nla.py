"""The ``rdp-nla`` fuzz family: NLA's CredSSP server (``ServerConnection`` with NLA offered),
brought to one of its three waiting points by real messages, then fed a random or mutated
TSRequest stream.

An input is a stage byte and the bytes to feed there: 0, the first message (raw NTLM or
SPNEGO); 1, after
xfreerdp's captured NEGOTIATE (the AUTHENTICATE slot: each NTLM proof that comes out is
checked against the captured password, so the NTLMv2 response's parsing is fuzzed too); 2,
after a whole good exchange with pyspnego's initiator (the sealed TSCredentials slot). Only
``RemoteProtocolError`` may come out, and it must leave the connection closed.
"""

from __future__ import annotations

import random

from rdpfront import events
from rdpfront.errors import RemoteProtocolError
from rdpfront.nla import Verdict
from rdpfront.ntlm import nt_hash
from rdpfront.x224 import SecurityProtocol
from tests.fuzz.targets import Family, _pick
from tests.rdpfront.test_credssp import PASSWORD, CredsspClient, captured, connection_at_credssp, run_exchange

STAGES = 3


def _seeds() -> list[list[bytes]]:
    spnego_init = CredsspClient(protocol="negotiate").negotiate()  # NTLM wrapped in SPNEGO
    return [[captured("negotiate"), spnego_init], [captured("authenticate")],
            [captured("authinfo"), captured("authenticate")]]


def _answer(conn) -> None:
    """Answer every NLA check the way the console would for the captured password."""
    for event in conn.events():
        if isinstance(event, events.NlaVerify):
            verdict = Verdict.OK if event.proof.verify(nt_hash(PASSWORD)) else Verdict.FAILED
            conn.credssp_verified(verdict)


def rdp_nla() -> Family:
    seeds = _seeds()

    def make(rng: random.Random) -> bytes:
        stage = rng.randrange(STAGES)
        return bytes([stage]) + _pick(rng, seeds[stage])

    def feed(data: bytes) -> None:
        if not data:
            return
        stage, payload = data[0] % STAGES, data[1:]
        conn = connection_at_credssp(SecurityProtocol.SSL | SecurityProtocol.HYBRID | SecurityProtocol.HYBRID_EX)
        if stage == 1:
            conn.receive_data(captured("negotiate"))
            conn.data_to_send()
        elif stage == 2:
            client = CredsspClient()
            assert run_exchange(conn, client) is Verdict.OK
            conn.data_to_send()
        try:
            for at in range(0, len(payload), 97):  # as a socket might cut it
                conn.receive_data(payload[at:at + 97])
                _answer(conn)
        except RemoteProtocolError:
            assert conn.closed, "a protocol error left the connection open"
            raise

    return Family("rdp-nla", make, feed, (RemoteProtocolError,))
