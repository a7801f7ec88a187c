"""The browser viewer's socket under a user's policy, with the real consumer (the console's
ASGI application) and a real session host: refused when browser access is off; clipboard
text dropped in a direction the policy turns off, carried in the other."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from tests.compositor.helpers import clipboard_text, session_env
from tests.webconsole.policies.conftest import override
from webconsole.asgi import application
from webconsole.desktops.models import DesktopSession
from webconsole.viewer.protocol import encode_server, split

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(shutil.which("xclip") is None, reason="xclip is not installed")]


async def _socket(user: User, desktop: DesktopSession) -> WebsocketCommunicator:
    def cookie() -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver"),
               (b"cookie", f"sessionid={await sync_to_async(cookie)()}".encode())]
    communicator = WebsocketCommunicator(application, f"/ws/desktops/{desktop.pk}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def _messages_until(communicator: WebsocketCommunicator, want, timeout: float) -> dict | None:
    """The first message whose header ``want`` accepts (its payload under "payload"), or None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:  # from the queue itself: receive_output's own timeout would cancel the consumer
            output = await asyncio.wait_for(communicator.output_queue.get(), left)
        except TimeoutError:
            return None
        if output["type"] == "websocket.close":
            return {"op": "closed", "code": output.get("code"), "reason": output.get("reason")}
        if output.get("bytes"):
            header, payload = split(output["bytes"])
            if want(header):
                return {**header, "payload": payload}
    return None


async def _own_clipboard(host, text: str) -> asyncio.subprocess.Process:
    owner = await asyncio.create_subprocess_exec(
        "xclip", "-quiet", "-selection", "clipboard", "-i", env=session_env(host), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    owner.stdin.write(text.encode())
    owner.stdin.close()
    return owner


async def test_browser_access_off_refuses_the_socket(alice, desktop):
    await sync_to_async(override)(alice, browser_access=False)
    communicator = await _socket(alice, desktop)
    try:
        closed = await _messages_until(communicator, lambda h: False, 5)
        assert closed == {"op": "closed", "code": 4403, "reason": "browser access is turned off by your policy"}
    finally:
        await communicator.disconnect()


async def test_browser_access_taken_away_closes_an_open_socket(alice, desktop):
    communicator = await _socket(alice, desktop)
    try:
        await communicator.send_to(bytes_data=encode_server({"op": "subscribe", "format": "jpeg"}))
        assert await _messages_until(communicator, lambda h: h["op"] == "subscribed", 10) is not None
        await sync_to_async(override)(alice, browser_access=False)
        closed = await _messages_until(communicator, lambda h: False, 12)  # rechecked every 5 s
        assert closed == {"op": "closed", "code": 4403, "reason": "browser access is turned off by your policy"}
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize("clipboard", ["both", "to_desktop", "from_desktop", "off"])
async def test_clipboard_directions(alice, desktop, host, clipboard):
    await sync_to_async(override)(alice, clipboard=clipboard)
    to_desktop, from_desktop = clipboard in ("both", "to_desktop"), clipboard in ("both", "from_desktop")
    communicator = await _socket(alice, desktop)
    owner = None
    try:
        await communicator.send_to(bytes_data=encode_server({"op": "subscribe", "format": "jpeg"}))
        assert await _messages_until(communicator, lambda h: h["op"] == "subscribed", 10) is not None
        # browser -> desktop
        marker = f"from the browser {clipboard} ✓"
        await communicator.send_to(bytes_data=encode_server({"op": "clipboard"}, marker.encode()))
        deadline = time.monotonic() + (5 if to_desktop else 2)
        got = None
        while time.monotonic() < deadline and got != marker:
            await asyncio.sleep(0.2)
            got = await asyncio.to_thread(clipboard_text, host)
        assert (got == marker) == to_desktop, got
        if not to_desktop:  # and the page is told why
            error = await _messages_until(communicator, lambda h: h["op"] == "error", 3)
            assert error is not None and "turned off by your policy" in error["error"]
        # desktop -> browser: a program of the session takes the clipboard
        text = f"from the desktop {clipboard} ✓"
        owner = await _own_clipboard(host, text)
        pushed = await _messages_until(
            communicator, lambda h: h["op"] == "clipboard" or h["op"] == "closed", 6 if from_desktop else 3)
        if from_desktop:
            assert pushed is not None and pushed["op"] == "clipboard" and pushed["payload"].decode() == text
        else:
            assert pushed is None, pushed
    finally:
        if owner is not None and owner.returncode is None:
            owner.terminate()
            await owner.wait()
        await communicator.disconnect()
