"""What the RDP benchmarks share: a session host, an Xvfb for the client, rdpfront's server in
this process (any login accepted, every user attached to that host), and ``xfreerdp`` started
on that Xvfb and ended by pid."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from compositor.display import start_xvfb  # noqa: E402
from compositor.launcher import LaunchedHost, launch_host, stop_host  # noqa: E402
from compositor.sandbox import SessionUser  # noqa: E402
from rdpfront.nla import NlaProof, Verdict  # noqa: E402
from rdpfront.ntlm import nt_hash  # noqa: E402
from rdpfront.server import RdpServer, ServerSettings  # noqa: E402


@dataclass
class Rig:
    server: RdpServer
    port: int
    host: LaunchedHost
    env: dict[str, str]  # the client's display
    client_fb: Path  # the client display's framebuffer (Xvfb -fbdir XWD file)

    @property
    def settings(self) -> ServerSettings:
        return self.server.settings

    async def client(self, *args: str) -> asyncio.subprocess.Process:
        """xfreerdp, full screen on the client Xvfb."""
        return await asyncio.create_subprocess_exec(
            "xfreerdp", "/cert:ignore", "/u:bench", "/p:bench", f"/v:127.0.0.1:{self.port}", "/f",
            "/log-level:ERROR", *args, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def shown(self, timeout: float = 20.0):
        """The one client connection, once its first frame has been sent."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if self.server.connections and next(iter(self.server.connections)).first_frame_at:
                (conn,) = self.server.connections
                return conn
            await asyncio.sleep(0.05)
        raise SystemExit("the client did not show a first frame")

    async def end_client(self, proc: asyncio.subprocess.Process) -> None:
        """End the client and wait until the server has let its connection go."""
        proc.terminate()
        await proc.wait()
        # the POSIX shared memory it made for video redirection and leaves behind
        Path(f"/dev/shm/com.freerdp.xfreerdp.tsmf_{proc.pid:016X}").unlink(missing_ok=True)
        for _ in range(100):
            if not self.server.connections:
                break
            await asyncio.sleep(0.02)


@asynccontextmanager
async def rdp_rig(width: int, height: int, *, startup: str | None = None, user: SessionUser | None = None,
                  **settings) -> AsyncIterator[Rig]:
    """``user``: the desktop's account (None: this process's own)."""
    tmp = Path(tempfile.mkdtemp(prefix="wrd-bench-rdp-"))
    if user is not None:
        os.chmod(tmp, 0o755)  # the desktop's account reaches its runtime directory in here
    host = launch_host(session=f"bench-{uuid.uuid4().hex[:6]}", runtime_dir=tmp / "rt", width=width,
                       height=height, max_width=width, max_height=height, wayland=False, startup=startup,
                       user=user)
    xvfb = start_xvfb(width=width, height=height, workdir=tmp / "client")

    async def authenticate(username: str, password: str, address: str) -> bool:
        return True

    async def attach(username: str, width: int, height: int) -> Path:
        return host.socket_path

    async def authenticate_nla(proof: NlaProof, address: str) -> Verdict:
        # the NTLM check as the console runs it (off the event loop), without its database
        return Verdict.OK if await asyncio.to_thread(proof.verify, nt_hash("bench")) else Verdict.FAILED

    server = RdpServer(ServerSettings(port=0, cert_dir=tmp / "cert", max_width=width, max_height=height, **settings),
                       authenticate=authenticate, attach=attach, authenticate_nla=authenticate_nla)
    try:
        port = await server.start()
        yield Rig(server, port, host, dict(os.environ, **xvfb.env(), HOME=str(tmp)), xvfb.framebuffer_path)
    finally:
        await server.close()
        xvfb.stop()
        stop_host(host.runtime_dir, host.pid)
        shutil.rmtree(tmp, ignore_errors=True)
