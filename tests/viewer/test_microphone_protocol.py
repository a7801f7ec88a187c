"""The viewer's ``microphone`` message (webconsole/viewer/protocol.py): what passes, what
closes the socket, and that whatever passes is a host ``microphone`` request the host takes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compositor import messages
from webconsole.viewer.protocol import (
    MAX_MICROPHONE_MESSAGE,
    CloseCode,
    Microphone,
    ViewerProtocolError,
    encode_server,
    parse_client,
)


def test_a_chunk_of_samples_is_the_payload() -> None:
    pcm = bytes(range(256)) * 7 + b"\x01\x02"
    assert parse_client(encode_server({"op": "microphone"}, pcm)) == Microphone(pcm)
    biggest = bytes(MAX_MICROPHONE_MESSAGE)
    assert parse_client(encode_server({"op": "microphone"}, biggest)) == Microphone(biggest)


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x00" * 961, bytes(MAX_MICROPHONE_MESSAGE + 2)])
def test_empty_odd_or_oversized_chunks_close_the_socket(payload: bytes) -> None:
    with pytest.raises(ViewerProtocolError) as info:
        parse_client(encode_server({"op": "microphone"}, payload))
    assert info.value.code == CloseCode.PROTOCOL_ERROR


@given(st.binary(max_size=MAX_MICROPHONE_MESSAGE + 8),
       st.dictionaries(st.sampled_from(["rate", "channels", "x"]), st.integers() | st.text(max_size=4), max_size=3))
def test_what_passes_the_host_accepts(payload: bytes, fields: dict) -> None:
    try:
        parsed = parse_client(encode_server({"op": "microphone", **fields}, payload))
    except ViewerProtocolError:
        return
    header, body = messages.Microphone(pcm=parsed.pcm).encode()
    assert messages.decode_request(header, body) == messages.Microphone(pcm=payload)
