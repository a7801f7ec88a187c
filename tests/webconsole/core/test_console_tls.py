"""The console over the network (docs/security.md): HTTPS served by daphne itself with
``WRD_CONSOLE_TLS``, HSTS, Secure and HttpOnly cookies, the Content-Security-Policy, and
``X-Forwarded-Proto`` believed only when ``WRD_TRUST_X_FORWARDED_PROTO`` says a proxy sets it."""

from __future__ import annotations

import http.client
import re
import ssl
import sys
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "viewer"))

import harness

pytestmark = pytest.mark.timeout(180)


def _connection(console: harness.Console) -> http.client.HTTPConnection:
    if console.scheme == "https":
        ctx = ssl.create_default_context(cafile=str(console.workdir / "tls" / "console-cert.pem"))
        return http.client.HTTPSConnection("127.0.0.1", console.port, context=ctx, timeout=20)
    return http.client.HTTPConnection("127.0.0.1", console.port, timeout=20)


def _get(console, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = _connection(console)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _cookies(response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name (the header's text, attributes included)."""
    return {SimpleCookie(h).keys().__iter__().__next__(): h for h in response.headers.get_all("Set-Cookie") or []}


@pytest.fixture
def console(tmp_path):
    c = harness.Console(tmp_path)
    c.setup()
    yield c
    c.close()


def test_https_console_sends_hsts_secure_cookies_and_the_policy(console):
    console.add_user("dana")
    console.start(tls=True)
    # The certificate verifies for the loopback address it was made for.
    page = _get(console, "/accounts/login/")
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    csrf = _cookies(page)["csrftoken"]
    assert "Secure" in csrf

    token = re.search(r"csrftoken=([^;]+)", csrf).group(1)
    conn = _connection(console)
    body = f"username=dana&password=pw-dana&csrfmiddlewaretoken={token}"
    conn.request("POST", "/accounts/login/", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={token}",
        "Referer": f"{console.url}/accounts/login/", "Origin": console.url})
    login = conn.getresponse()
    login.read()
    conn.close()
    assert login.status == 302, login.status
    session = _cookies(login)["sessionid"]
    assert "Secure" in session and "HttpOnly" in session and "SameSite=Lax" in session

    # Plain HTTP on the HTTPS port gets no page.
    plain = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        plain.request("GET", "/accounts/login/")
        answer = plain.getresponse()
        answer.read()
        if answer.status:  # a TLS server may still answer bytes; it must not be the page
            raise ConnectionError(f"plain HTTP answered {answer.status}")
    plain.close()


def test_x_forwarded_proto_is_ignored_unless_a_proxy_is_trusted(tmp_path):
    plain, proxied = harness.Console(tmp_path / "plain"), harness.Console(tmp_path / "proxied")
    proxied.env["WRD_TRUST_X_FORWARDED_PROTO"] = "1"
    try:
        for c in (plain, proxied):
            c.setup()
            c.start()
        claim = {"X-Forwarded-Proto": "https"}
        # A client's claim alone makes nothing HTTPS: no HSTS, cookies as for plain HTTP.
        untrusted = _get(plain, "/accounts/login/", claim)
        assert "Strict-Transport-Security" not in untrusted.headers
        assert "Secure" not in _cookies(untrusted)["csrftoken"]
        # Behind a trusted proxy the header says the browser's scheme.
        trusted = _get(proxied, "/accounts/login/", claim)
        assert trusted.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "Secure" in _cookies(trusted)["csrftoken"]
        # Without the header, the proxied console is plain HTTP as the request says.
        assert "Strict-Transport-Security" not in _get(proxied, "/accounts/login/").headers
    finally:
        plain.close()
        proxied.close()
