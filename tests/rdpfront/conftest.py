"""Fixtures of the end-to-end tests with real clients (xfreerdp, rdesktop, aardwolf): one
session host and one client Xvfb of ``CLIENT_SIZE`` per module, a fresh server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from compositor.display import Xvfb
from rdpfront.server import RdpServer, ServerSettings
from tests.compositor.helpers import start_host, stop_host
from tests.rdpfront.xfreerdp import CLIENT_SIZE, PASSWORD, Harness, client_xvfb, harness_for


@pytest.fixture(scope="module")
def host() -> Iterator:
    launched = start_host(*CLIENT_SIZE)
    try:
        yield launched
    finally:
        stop_host(launched)


@pytest.fixture(scope="module")
def client_display() -> Iterator[Xvfb]:
    with client_xvfb(*CLIENT_SIZE) as xvfb:
        yield xvfb


@pytest.fixture
async def rdp(host, client_display, tmp_path) -> AsyncIterator[Harness]:
    async def authenticate(username: str, password: str, address: str) -> bool:
        return username == "alice" and password == PASSWORD

    attached: list[tuple[str, int, int]] = []

    async def attach(username: str, width: int, height: int) -> Path:
        attached.append((username, width, height))
        return host.socket_path

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert"), authenticate=authenticate, attach=attach)
    port = await server.start()
    async with harness_for(server, port, client_display, tmp_path) as harness:
        harness.attached = attached
        yield harness
