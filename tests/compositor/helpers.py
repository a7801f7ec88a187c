"""Helpers for tests that run real session hosts."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from compositor import launcher, messages
from compositor.client import BlockingHostClient, HostClient
from compositor.launcher import LaunchedHost, launch_host
from compositor.protocol import Message
from tests.conftest import desktop_user, session_process_env


def runtime_root() -> Path:
    return Path(os.environ["WRD_RUNTIME_ROOT"])


def start_host(width: int = 1024, height: int = 768, **kwargs) -> LaunchedHost:
    """A session host started the way the product starts one: through the sandbox, as a
    desktop account of the test run (``user=None`` to stay the suite's own user)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kwargs.setdefault("wayland", False)
    kwargs.setdefault("max_width", 1920)
    kwargs.setdefault("max_height", 1200)
    kwargs.setdefault("env", session_process_env())
    kwargs.setdefault("user", desktop_user())
    kwargs.setdefault("service_group", "wrd")
    return launch_host(session=name, runtime_dir=runtime_root() / name, width=width, height=height,
                       log_file=Path(os.environ["WRD_VAR_DIR"]) / "log" / f"{name}.log", **kwargs)


def x_display(env: dict[str, str]):
    """A python-xlib connection to ``env``'s X display. python-xlib takes the cookie file only
    from $XAUTHORITY, so that is pointed at ``env``'s first."""
    from Xlib import display as xdisplay

    os.environ["XAUTHORITY"] = env["XAUTHORITY"]
    return xdisplay.Display(env["DISPLAY"])


def session_env(host: LaunchedHost) -> dict[str, str]:
    return dict(os.environ, DISPLAY=host.display, XAUTHORITY=str(host.runtime_dir / "Xauthority"),
                XDG_RUNTIME_DIR=str(host.runtime_dir))


def request(host: LaunchedHost, op: str, **fields) -> Message:
    with BlockingHostClient(host.socket_path) as client:
        return client.request(op, **fields)


def clipboard_text(host: LaunchedHost, selection: str = "CLIPBOARD") -> str | None:
    with BlockingHostClient(host.socket_path) as client:
        return client.call(messages.ClipboardGet(messages.Selection(selection))).text


def set_clipboard(host: LaunchedHost, text: str, selection: str = "CLIPBOARD") -> None:
    with BlockingHostClient(host.socket_path) as client:
        client.call(messages.ClipboardSet(text, messages.Selection(selection)))


def screenshot(host: LaunchedHost) -> np.ndarray:
    """The session's screen as an (h, w, 3) RGB array."""
    png = request(host, "screenshot").payload
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def stop_host(host: LaunchedHost) -> None:
    """Stop the host and take down what the sandbox set up for it, as the product does."""
    launcher.stop_host(host.runtime_dir, host.pid)


def xclip(host: LaunchedHost, *args: str, data: str | None = None) -> str:
    result = subprocess.run(["xclip", *args], input=data, env=session_env(host), capture_output=True,
                            text=True, timeout=10)
    return result.stdout


class Subscriber:
    """An asyncio subscriber that collects pushed messages."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.client = HostClient(on_push=self.messages.put_nowait)

    async def connect(self, host: LaunchedHost) -> Subscriber:
        await self.client.connect(host.socket_path)
        return self

    async def next(self, op: str, timeout: float = 10.0, **match) -> Message:
        async def find():
            while True:
                msg = await self.messages.get()
                if msg.op == op and all(msg.get(k) == v for k, v in match.items()):
                    return msg
        return await asyncio.wait_for(find(), timeout)
