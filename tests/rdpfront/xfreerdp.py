"""Driving real RDP clients against an in-process ``RdpServer`` (shared by the end-to-end
tests): Debian's xfreerdp 2.11 and rdesktop 1.9 on their own Xvfb, and aardwolf (PyPI) in its
own venv through ``aardwolf_client.py``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import numpy as np

from compositor.display import Xvfb, start_xvfb
from compositor.framebuffer import XwdFramebuffer
from rdpfront.nla import NlaProof, Verdict
from rdpfront.ntlm import nt_hash
from rdpfront.server import RdpServer, ServerSettings
from tests.compositor.helpers import request, screenshot, session_env
from tests.conftest import ROOT

PASSWORD = "right-password"
CLIENT_SIZE = (800, 600)  # the session's and the client display's, so pixels compare one to one
CLIENTS_PYTHON = ROOT / ".venv-rdp-clients" / "bin" / "python"  # make clients-venv
AARDWOLF_CLIENT = Path(__file__).with_name("aardwolf_client.py")


@contextmanager
def client_xvfb(width: int, height: int) -> Iterator[Xvfb]:
    """An Xvfb for one xfreerdp client, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="wrd-rdp-client-"))
    xvfb = start_xvfb(width=width, height=height, workdir=workdir)
    try:
        yield xvfb
    finally:
        xvfb.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def run(*argv: str, env: dict[str, str], timeout: float = 10.0) -> str:
    """A helper program, without blocking the event loop the RDP server runs on."""
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return out.decode(errors="replace")


async def authenticate_nla(proof: NlaProof, address: str) -> Verdict:
    """An NLA authenticator for tests: ``PASSWORD`` logs any user in."""
    return Verdict.OK if await asyncio.to_thread(proof.verify, nt_hash(PASSWORD)) else Verdict.FAILED


async def start_server(tmp_path: Path, socket_path: Path, **settings) -> tuple[RdpServer, int]:
    """rdpfront's server on a free loopback port: ``PASSWORD`` logs any user in, to the session
    host at ``socket_path`` (through NLA too, with ``nla="offer"`` or ``"require"``)."""
    async def authenticate(username: str, password: str, address: str) -> bool:
        return password == PASSWORD

    async def attach(username: str, width: int, height: int) -> Path:
        return socket_path

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp_path / "cert", **settings),
                       authenticate=authenticate, attach=attach, authenticate_nla=authenticate_nla)
    return server, await server.start()


async def close_server(server: RdpServer) -> None:
    """Close the server and wait until its connections have ended."""
    await server.close()
    for _ in range(100):
        if not server.connections:
            break
        await asyncio.sleep(0.05)


@asynccontextmanager
async def harness_for(server: RdpServer, port: int, xvfb: Xvfb, tmp_path: Path) -> AsyncIterator[Harness]:
    """A ``Harness`` running clients on ``xvfb`` against ``server``; on leaving, its clients are
    stopped and the server closed."""
    home = tmp_path / "home"
    home.mkdir()
    harness = Harness(server, port, xvfb, home)
    try:
        yield harness
    finally:
        await harness.stop_clients()
        await close_server(server)


async def _collect(proc: asyncio.subprocess.Process, output: bytearray, keep: int = 65536) -> None:
    """Read a client's output as it comes (a pipe nobody reads would block it once full)."""
    while chunk := await proc.stdout.read(4096):
        output += chunk
        del output[:-keep]


class Harness:
    def __init__(self, server: RdpServer, port: int, xvfb: Xvfb, home: Path) -> None:
        self.server, self.port, self.xvfb, self.home = server, port, xvfb, home
        self.attached: list[tuple[str, int, int]] = []
        self.procs: list[asyncio.subprocess.Process] = []
        self.outputs: dict[asyncio.subprocess.Process, bytearray] = {}
        self._readers: dict[asyncio.subprocess.Process, asyncio.Task] = {}
        self.extra_env: dict[str, str] = {}  # more for the clients' environment (e.g. their PULSE_SERVER)

    def env(self) -> dict[str, str]:
        return dict(os.environ, **self.xvfb.env(), HOME=str(self.home), **self.extra_env)

    async def client(self, *args: str, user: str = "alice", password: str = PASSWORD,
                     fullscreen: bool = True) -> asyncio.subprocess.Process:
        """xfreerdp."""
        return await self.spawn("xfreerdp", "/cert:ignore", f"/u:{user}", f"/p:{password}",
                                f"/v:127.0.0.1:{self.port}", *(["/f"] if fullscreen else []), "/log-level:WARN", *args)

    async def rdesktop(self, *args: str, user: str = "alice", password: str = PASSWORD) -> asyncio.subprocess.Process:
        """rdesktop, full screen; it asks on stdin whether to trust the server's certificate."""
        return await self.spawn("rdesktop", "-u", user, "-p", password, "-f", *args, f"127.0.0.1:{self.port}",
                                stdin=b"yes\n")

    async def aardwolf(self, *, user: str = "alice", password: str = PASSWORD, bpp: int = 16,
                       security: str = "tls", clipboard: bool = False) -> AardwolfClient:
        """aardwolf through ``aardwolf_client.py``, at the client display's size; ``security``
        is ``tls`` or ``nla`` (aardwolf's own offer, HYBRID_EX first); ``clipboard`` joins the
        clipboard channel."""
        width, height = self.xvfb.width, self.xvfb.height
        options = [security, "clipboard"] if clipboard else [security]
        proc = await self.spawn(str(CLIENTS_PYTHON), str(AARDWOLF_CLIENT), str(self.port), user, password,
                                str(width), str(height), str(bpp), *options, stdin=b"")
        return AardwolfClient(self, proc)

    async def spawn(self, *argv: str, stdin: bytes | None = None) -> asyncio.subprocess.Process:
        """A client program whose output is collected; with ``stdin`` its input is a pipe that
        starts with those bytes and stays open."""
        proc = await asyncio.create_subprocess_exec(
            *argv, env=self.env(), stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        if stdin:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        self.procs.append(proc)
        self.outputs[proc] = output = bytearray()
        self._readers[proc] = asyncio.create_task(_collect(proc, output))
        return proc

    async def finished_output(self, proc: asyncio.subprocess.Process) -> str:
        """Everything an ended client printed."""
        await self._readers[proc]
        self.procs.remove(proc)  # expected to end: nothing to report at teardown
        return self.output(proc)

    def output(self, proc: asyncio.subprocess.Process) -> str:
        """What the client has printed so far (its last 64 KiB)."""
        return self.outputs[proc].decode(errors="replace")

    async def wait_first_frame(self, timeout: float = 20.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in self.server.connections:
                if c.first_frame_at is not None:
                    return c.first_frame_at - c.accepted_at
            await asyncio.sleep(0.05)
        raise AssertionError("no frame was sent to the client")

    def client_rgb(self) -> np.ndarray:
        fb = XwdFramebuffer(self.xvfb.framebuffer_path)
        try:
            return np.array(fb.screen()[:, :, 2::-1])
        finally:
            fb.close()

    async def wait_pixels_match(self, host, tolerance: float, timeout: float = 15.0) -> float:
        deadline = time.monotonic() + timeout
        diff = 255.0
        while time.monotonic() < deadline:
            session = await asyncio.to_thread(screenshot, host)
            shown = await asyncio.to_thread(self.client_rgb)
            diff = float(np.abs(session.astype(np.int16) - shown.astype(np.int16)).mean())
            if diff <= tolerance:
                return diff
            await asyncio.sleep(0.3)
        raise AssertionError(f"client pixels differ from the session's by {diff:.2f} on average")

    async def xdotool(self, *args: str) -> None:
        await run("xdotool", *args, env=self.env())

    async def stop_clients(self) -> None:
        for proc in self.procs:
            if proc.returncode is not None:  # it ended on its own: show why with the test's output
                print(f"a client exited with {proc.returncode}; its output:\n{self.output(proc)}")
            else:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        self.procs.clear()
        for reader in self._readers.values():
            await reader
        self._readers.clear()




class AardwolfClient:
    """Commands to ``aardwolf_client.py`` (one JSON line each) and their answers."""

    def __init__(self, harness: Harness, proc: asyncio.subprocess.Process) -> None:
        self.harness, self.proc = harness, proc
        self._next_id = 0

    def _lines(self) -> list[dict]:
        out = []
        for line in self.harness.output(self.proc).splitlines():
            if line.startswith("{"):  # aardwolf prints other things too
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    async def _wait_line(self, match: Callable[[dict], bool], timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._lines():
                if match(line):
                    return line
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"aardwolf did not answer; its output:\n{self.harness.output(self.proc)[-4000:]}")

    async def connected(self, timeout: float = 30.0) -> dict:
        """``{"connected": true, "protocol": ..., "authz_result": ...}`` or ``{"error": ...}``."""
        return await self._wait_line(lambda line: "connected" in line or "error" in line, timeout)

    async def command(self, op: str, timeout: float = 20.0, **fields: object) -> dict:
        self._next_id += 1
        ident = self._next_id
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(dict(fields, op=op, id=ident)).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._wait_line(lambda line: line.get("id") == ident, timeout)


async def typed_into_session(host, name: str, type_text: Callable[[], Awaitable[None]]) -> str:
    """What ``type_text`` typed into a focused xterm in the session (the line it ran ``cat``
    into a file with); the xterm is closed afterwards."""
    env = session_env(host)
    out = Path(env["XDG_RUNTIME_DIR"]) / name
    title = f"wrd-typing-{name}"
    await asyncio.to_thread(request, host, "exec",
                            argv=["xterm", "-T", title, "-geometry", "60x5+0+0", "-e", "sh", "-c", f"cat > {out}"])
    await run("xdotool", "search", "--sync", "--name", title, "windowactivate", "--sync", env=env, timeout=20)
    await type_text()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if out.exists() and out.read_text(encoding="utf-8"):
            break
        await asyncio.sleep(0.2)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    await run("xdotool", "search", "--name", title, "windowkill", env=env)
    return text
