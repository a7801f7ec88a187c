"""The viewer socket takes handshakes from the console's own origin (scheme, host and port) or
a trusted one, and denies the rest before the consumer runs."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from webconsole.asgi import application
from webconsole.core.origin import parse_origin

HOST = b"console.test:8000"


async def handshake(origin: bytes | None, *, host: bytes = HOST, scheme: str = "ws") -> tuple[bool, int | None]:
    headers = [(b"host", host)] + ([(b"origin", origin)] if origin is not None else [])
    communicator = WebsocketCommunicator(application, "/ws/desktops/1/", headers=headers)
    communicator.scope["scheme"] = scheme
    try:
        connected, code = await communicator.connect(timeout=5)
        if connected:  # past the origin check: the consumer answers an anonymous socket itself
            code = (await communicator.receive_output(timeout=5)).get("code")
        return connected, code
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@override_settings(ALLOWED_HOSTS=["console.test"], CSRF_TRUSTED_ORIGINS=["https://wrd.example.org"])
@pytest.mark.parametrize(("origin", "scheme", "passes"), [
    (b"http://console.test:8000", "ws", True),
    (b"http://CONSOLE.test:8000", "ws", True),  # host names compare case-insensitively
    (b"https://console.test:8000", "wss", True),
    (b"https://wrd.example.org", "ws", True),  # a trusted origin (a TLS proxy in front)
    (b"https://wrd.example.org:443", "ws", True),
    (b"http://console.test:9999", "ws", False),  # another service on the same machine
    (b"http://console.test", "ws", False),  # port 80 is another origin
    (b"https://console.test:8000", "ws", False),  # scheme differs from the handshake's
    (b"http://console.test:8000", "wss", False),
    (b"http://evil.test:8000", "ws", False),
    (b"http://console.test:8000/path", "ws", False),
    (b"null", "ws", False),
    (b"", "ws", False),
    (None, "ws", False),
])
async def test_origin_must_be_the_console_or_trusted(origin, scheme, passes):
    connected, code = await handshake(origin, scheme=scheme)
    assert connected == passes
    if passes:
        assert code == 4401  # anonymous: refused by the consumer, after the origin check


@pytest.mark.django_db(transaction=True)
@override_settings(ALLOWED_HOSTS=["console.test"], CSRF_TRUSTED_ORIGINS=[])
async def test_a_host_outside_allowed_hosts_is_denied_whatever_the_origin():
    assert await handshake(b"http://other.test:8000", host=b"other.test:8000") == (False, 403)


def test_origin_parsing():
    assert parse_origin("http://a.test") == ("http", "a.test", 80)
    assert parse_origin("https://a.test") == ("https", "a.test", 443)
    assert parse_origin("https://a.test:8443") == ("https", "a.test", 8443)
    assert parse_origin("http://[::1]:8000") == ("http", "::1", 8000)
    for bad in ("ftp://a.test", "http://", "http://a.test:99999", "a.test", "http://a.test/x", "null"):
        assert parse_origin(bad) is None, bad
