"""The Files panel's download list, pushed over the viewer's socket (docs/files.md, *Pushed
list*): the consumer asks its session host to watch ``~/Downloads`` (``downloads_watch``) when
the viewer may download, and each list the host pushes goes to the page as a ``downloads``
message (docs/viewer-protocol.md) with each file's download URL, as ``GET .../files/`` gives it.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from django.contrib.auth.models import AbstractBaseUser

from compositor import messages
from webconsole.desktops.files import transfer_ways
from webconsole.viewer.protocol import encode_server


def downloads_allowed(*, user: AbstractBaseUser, shared: bool) -> bool:
    """Whether this viewer's page lists downloads: its own user's (or staff's) viewer, not one
    through a share, and downloads allowed by the server and the user's policy."""
    return not shared and "download" in transfer_ways(user)


def downloads_message(desktop_id: int, files: tuple[messages.FileEntry, ...]) -> bytes:
    """``downloads`` for the page: the files as a JSON array in the payload (a full list of long
    names does not fit a header)."""
    listed = [{"name": f.name, "size": f.size, "mtime": f.mtime,
               "url": f"/api/desktops/{desktop_id}/files/{quote(f.name, safe='')}"} for f in files]
    return encode_server({"op": "downloads", "count": len(listed)},
                         json.dumps(listed, separators=(",", ":"), ensure_ascii=False).encode())
