"""The viewer WebSocket's origin check: scheme, host and port, not the host name alone.

A page on ``http://console:8000`` may open a socket to the console; a page on
``http://console:9999`` (another service on the same machine) or ``https://console`` must not,
though Channels' ``AllowedHostsOriginValidator`` lets both through (it compares host names
only). The rule is Django's CSRF origin rule: the Origin is the console itself, as the
browser reached it (the handshake's scheme and Host header), or one of
``CSRF_TRUSTED_ORIGINS`` (a TLS-terminating proxy: the browser's origin is https, the socket
reaching us is ws). A handshake without an Origin is refused: browsers always send one.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None if malformed."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return scheme, parts.hostname.lower(), port


def parse_origin(value: str) -> tuple[str, str, int] | None:
    parts = urlsplit(value)
    if parts.scheme not in DEFAULT_PORTS or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return _origin(parts.scheme, parts.netloc)


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    host = headers.get(b"host", b"").decode("latin-1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    origin = parse_origin(headers.get(b"origin", b"").decode("latin-1"))
    if origin is None:
        return False
    own = _origin("https" if scope.get("scheme") == "wss" else "http", host)
    trusted = {o for o in map(parse_origin, settings.CSRF_TRUSTED_ORIGINS) if o is not None}
    return origin == own or origin in trusted


class SameOriginValidator:
    """ASGI middleware: a WebSocket handshake from another origin is denied (403) before it
    reaches the consumer."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            headers = dict(scope.get("headers", []))
            log.warning("websocket refused: origin %r not this console (host %r)",
                        headers.get(b"origin", b"").decode("latin-1")[:200],
                        headers.get(b"host", b"").decode("latin-1")[:200])
            # Closing before accepting refuses the handshake (HTTP 403); no consumer, no
            # channel layer.
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 403})
            return None
        return await self.application(scope, receive, send)
