"""Property tests and the fuzz run for every parser in ``codecs_table.PARSERS``.

- random bytes and mutated valid PDUs raise only ``RemoteProtocolError`` (the peer's fault),
  never another exception;
- the round-trip oracle (IronRDP ``ironrdp-fuzzing``): whatever decodes, encodes, and decodes
  again to an equal PDU. Encoding may refuse with ``LocalProtocolError`` when a decoded value
  cannot be written back (e.g. a name longer than its field), never with anything else.

Hypothesis runs a few hundred examples per parser; ``test_fuzz_run`` then feeds a few thousand
seeded random and mutated inputs per parser (``WRD_FUZZ_INPUTS`` raises it), the CI fuzz run.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdpfront import x224
from rdpfront.cursor import Reader
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from tests.fuzz.targets import mutate

from .codecs_table import PARSERS
from .test_pdus import TABLE
from .vectors import load_frames, load_hex

settings.register_profile("rdpfront", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile("rdpfront")
FUZZ_INPUTS = int(os.environ.get("WRD_FUZZ_INPUTS", "3000"))


def _vector_seeds() -> dict[str, list[bytes]]:
    seeds: dict[str, list[bytes]] = {name: [] for name in PARSERS}
    for parser, data, _ in TABLE:
        seeds[parser].append(data)

    def payload(name: str) -> bytes:
        return x224.data_payload(load_hex(f"freerdp-2.11/{name}.hex"))

    def send_data_body(name: str) -> bytes:
        from rdpfront import mcs
        return mcs.decode_domain_pdu(Reader(payload(name))).data  # type: ignore[union-attr]

    seeds["x224.connection_request"].append(load_hex("freerdp-2.11/01-x224-connection-request.hex"))
    seeds["mcs.connect_initial"] += [payload("02-mcs-connect-initial"),
                                     x224.data_payload(load_hex("spec/4.1.3-mcs-connect-initial.hex")),
                                     x224.data_payload(rdesktop_frames()[1])]
    seeds["mcs.domain_pdu"].append(x224.data_payload(rdesktop_frames()[2]))
    seeds["ber.integer"] += [bytes.fromhex(h) for h in ("0202ffff", "020300ffff", "02020022", "0201ff")]
    seeds["ber.length"] += [bytes.fromhex(h) for h in ("7f", "8180", "820100", "84000000ff")]
    seeds["mcs.domain_pdu"] += [payload("06-client-info"), payload("07-confirm-active")]
    seeds["client_info"] += [send_data_body("06-client-info")[4:], send_data_body("16-client-info-auto-reconnect")[4:]]
    seeds["autoreconnect.logon_info_extended"].append(load_hex("autoreconnect/logon-info-extended-cookie.hex"))
    seeds["share_control_pdu"] += [send_data_body(n) for n in ("07-confirm-active", "08-synchronize", "11-font-list")]
    seeds["confirm_active"].append(send_data_body("07-confirm-active")[6:])
    seeds["fastpath_input"] += [load_hex("freerdp-2.11/12-fastpath-input-scancode-sync.hex"),
                                load_hex("freerdp-2.11/13-fastpath-input-mouse.hex")]
    seeds["svc.channel_pdu"].append(send_data_body("15-cliprdr-format-list"))
    seeds["cliprdr"].append(send_data_body("15-cliprdr-format-list")[8:])
    seeds["cliprdr.file_list"].append(load_hex("freerdp-2.11/16-cliprdr-file-list.hex"))
    seeds["dib"].append(load_hex("freerdp-2.11/17-cliprdr-dib.hex"))
    from rdpfront import dib
    small = dib.Image(3, 2, bytes(range(24)))
    seeds["dib"] += [dib.encode_dib(small), dib.encode_dib(small, v5=True)]
    from rdpfront import mcs
    from rdpfront.cursor import decode
    from rdpfront.gcc import ConferenceCreateRequest
    ci = decode(mcs.ConnectInitial, payload("02-mcs-connect-initial"))
    seeds["gcc.conference_create_request"].append(ci.user_data)
    seeds["gcc.client_blocks"].append(decode(ConferenceCreateRequest, ci.user_data).user_data)
    for frame in (load_hex("spec/4.1.3-mcs-connect-initial.hex"), rdesktop_frames()[1]):
        other = decode(mcs.ConnectInitial, x224.data_payload(frame))
        seeds["gcc.client_blocks"].append(decode(ConferenceCreateRequest, other.user_data).user_data)
    seeds["confirm_active"].append(decode_rdesktop_send_data(12)[6:])
    seeds["share_control_pdu"] += [decode_rdesktop_send_data(i) for i in (12, 16, 23, 24)]
    seeds["gcc.client_core"].append(decode(ConferenceCreateRequest, ci.user_data).user_data[4:220])
    return seeds


def rdesktop_frames() -> list[bytes]:
    return load_frames("rdesktop-1.9/connection.hex")


def decode_rdesktop_send_data(index: int) -> bytes:
    from rdpfront import mcs
    return mcs.decode_domain_pdu(Reader(x224.data_payload(rdesktop_frames()[index]))).data  # type: ignore[union-attr]


SEEDS = _vector_seeds()


def check(parser: str, data: bytes) -> None:
    dec, enc = PARSERS[parser]
    try:
        first = dec(data)
    except RemoteProtocolError:
        return
    try:
        again = enc(first)
    except LocalProtocolError:
        return
    assert dec(again) == first, f"{parser}: decode(encode(decode(x))) != decode(x) for x={data.hex()}"


@pytest.mark.parametrize("parser", sorted(PARSERS))
@PROFILE
@given(data=st.binary(max_size=600))
def test_random_bytes_raise_only_remote_protocol_error(parser: str, data: bytes) -> None:
    check(parser, data)


@pytest.mark.parametrize("parser", sorted(p for p in PARSERS if SEEDS[p]))
@PROFILE
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, 100))
def test_mutated_pdus_roundtrip_or_fail_cleanly(parser: str, seed: int, which: int) -> None:
    rng = random.Random(seed)
    base = SEEDS[parser][which % len(SEEDS[parser])]
    check(parser, mutate(rng, base))


@pytest.mark.parametrize(("parser", "data", "pdu"), TABLE, ids=[f"{i}-{t[0]}" for i, t in enumerate(TABLE)])
def test_table_pdus_satisfy_the_oracle(parser: str, data: bytes, pdu: Any) -> None:
    check(parser, data)


def test_fuzz_run() -> None:
    """A few thousand seeded random and mutated inputs per parser; no unhandled exception."""
    rng = random.Random(0x5EED)
    started = time.monotonic()
    total = 0
    for parser in sorted(PARSERS):
        seeds = SEEDS[parser] or [b""]
        for i in range(FUZZ_INPUTS):
            if i % 3 == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            else:
                data = mutate(rng, rng.choice(seeds))
            try:
                check(parser, data)
            except AssertionError:
                raise
            except Exception as exc:  # pragma: no cover - the report is the point
                raise AssertionError(f"{parser}: {type(exc).__name__}: {exc} for input {data.hex()}") from exc
            total += 1
    assert total == FUZZ_INPUTS * len(PARSERS)
    assert time.monotonic() - started < 60
