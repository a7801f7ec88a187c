"""A hostile Wayland client, run as its own process: ``python hostile_client.py MODE``.

Prints one line ``result error=<errno> roundtrip=<rc>`` and exits 0 when the
compositor disconnected it (a protocol error gives EPROTO = 71).

Modes:
  shrink   attach an shm buffer, then shrink the file under it and commit
  destroyed  send requests on a wl_surface the client already destroyed
  flood    commit thousands of times with frame callbacks, never reading
  oversize   commit a buffer wider than the compositor accepts
  bad_stride create a buffer larger than its pool
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wlclient import Client, shm_buffer


def shrink(client: Client) -> None:
    compositor = client.compositor()
    shm = client.shm()
    surface = compositor.create_surface()
    buffer, fd, _pool = shm_buffer(shm, 256, 256)
    surface.attach(buffer, 0, 0)
    surface.damage(0, 0, 256, 256)
    client.roundtrip()
    os.ftruncate(fd, 0)  # the pages under the buffer are gone
    surface.commit()


def destroyed(client: Client) -> None:
    from pywayland import ffi, lib
    from pywayland.protocol.wayland import WlSurface

    compositor = client.compositor()
    surface = compositor.create_surface()
    client.roundtrip()
    # Destroy on the server, keep the proxy: send "destroy" by hand, then commit.
    ptr = surface._ptr
    args = ffi.new("union wl_argument []", 1)
    lib.wl_proxy_marshal_array(ptr, 0, args)  # wl_surface.destroy
    client.roundtrip()
    lib.wl_proxy_marshal_array(ptr, 6, args)  # wl_surface.commit on a dead id
    _ = WlSurface


def oversize(client: Client) -> None:
    compositor = client.compositor()
    surface = compositor.create_surface()
    buffer, _fd, _pool = shm_buffer(client.shm(), 9000, 1)  # wider than the compositor accepts
    surface.attach(buffer, 0, 0)
    surface.commit()


def bad_stride(client: Client) -> None:
    from wlclient import WL_SHM_FORMAT_XRGB8888

    fd = os.memfd_create("wrd-bad")
    os.ftruncate(fd, 4096)
    pool = client.shm().create_pool(fd, 4096)
    pool.create_buffer(0, 64, 64, 256, WL_SHM_FORMAT_XRGB8888)  # needs 16 KB of a 4 KB pool


def flood(client: Client) -> None:
    compositor = client.compositor()
    surface = compositor.create_surface()
    for _ in range(20000):
        surface.frame()
        surface.commit()
    client.display.flush()


def main() -> None:
    mode = sys.argv[1]
    client = Client()
    modes = {"shrink": shrink, "destroyed": destroyed, "flood": flood, "oversize": oversize,
             "bad_stride": bad_stride}
    modes[mode](client)
    rc = 0
    for _ in range(50):
        rc = client.roundtrip()
        if rc < 0:
            break
    error = client.error()
    print(f"result error={error} roundtrip={rc}", flush=True)
    sys.stderr.flush()
    # pywayland's client teardown after a fatal display error can crash; we are done.
    os._exit(0 if error != 0 else 1)


if __name__ == "__main__":
    main()
