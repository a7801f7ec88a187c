"""Entry point: ``python -m compositor.wayland --socket wayland-0 [--socket-fd FD] [--stats SECONDS]``.

The session host starts it when the first Wayland client connects to the socket the host
holds, and hands that socket over as ``--socket-fd``.

Started by the session host with DISPLAY, XAUTHORITY and XDG_RUNTIME_DIR set.
Prints exactly one ``ready`` line on stdout once clients can connect; SIGTERM
closes clients, destroys the X windows and removes the socket and lock file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compositor.wayland")
    parser.add_argument("--socket", default="wayland-0", help="socket name in $XDG_RUNTIME_DIR")
    parser.add_argument("--socket-fd", type=int, metavar="FD",
                        help="serve this listening socket (bound by the session host) instead of creating one")
    parser.add_argument("--stats", type=float, default=0.0, metavar="SECONDS",
                        help="log a stats line (commits, frames, commit-to-screen latency) this often")
    parser.add_argument("--no-shm", action="store_true", help="upload with core PutImage strips, not MIT-SHM")
    parser.add_argument("--log-level", default=os.environ.get("WRD_COMPOSITOR_LOG", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s session=%(session)s %(message)s")
    session = os.environ.get("WRD_SESSION_ID", os.environ.get("DISPLAY", "-"))
    old_factory = logging.getLogRecordFactory()

    def factory(*a: object, **kw: object) -> logging.LogRecord:
        record = old_factory(*a, **kw)
        record.session = session
        return record

    logging.setLogRecordFactory(factory)

    from compositor.wayland.state import Server

    server = Server(args.socket, stats_interval=args.stats, use_shm=not args.no_shm, socket_fd=args.socket_fd)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    asyncio.run(server.run(ready))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
