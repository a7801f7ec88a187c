"""Files between browsers and desktops (docs/files.md): resumable uploads into the desktop
user's ``~/Uploads`` and downloads from their ``~/Downloads``.

The console never touches those folders: it runs as the service account, the desktop as its
own user. Every byte goes through the desktop's session host (``file_put``, ``file_stat``,
``file_list``, ``file_get``), which does the file I/O as the user, confined to the two folders
(compositor/files.py). The console keeps no state of an upload: its id, name, declared size,
desktop and user travel in a signed token (the upload's URL), and the host holds the bytes,
so any console process can take the next chunk and a resumed upload asks the host where it is.

Checks here, before the host is asked: the policy (``WRD_FILE_TRANSFER``), the declared size
(``WRD_UPLOAD_MAX_BYTES``), the name (compositor/filenames.py), that a chunk starts where the
upload is and never goes past the declared size, and that the host's answers fit what was
asked (a desktop's user can take over their own host). Each refusal is one log line and one
HTTP error for that request only.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing

from compositor import messages
from compositor.client import HostError, HostRefused
from compositor.filenames import BadName, check_name
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

log = logging.getLogger("webconsole.files")

UPLOAD_SALT = "wrd.desktops.upload"
UPLOAD_MAX_AGE = 7 * 24 * 3600  # seconds an upload's URL stays good (the host prunes its bytes then too)
DOWNLOAD_CHUNK = 2 * 1024 * 1024  # bytes asked of the host at a time while streaming a download


class TransferRefused(Exception):
    """A transfer request refused: ``status`` is its HTTP status, the message its reason."""

    def __init__(self, status: int, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.offset = offset


@dataclass(frozen=True)
class Upload:
    """One upload, as its signed token carries it."""

    desktop: int
    user: int
    upload: str  # 32 hex digits: the host's name for its bytes
    name: str
    size: int

    @property
    def token(self) -> str:
        return signing.dumps([self.desktop, self.user, self.upload, self.name, self.size], salt=UPLOAD_SALT,
                             compress=True)


@dataclass(frozen=True)
class Download:
    name: str
    size: int
    mtime: float


def transfer_ways(user: AbstractBaseUser | None = None) -> tuple[str, ...]:
    """What the server (WRD_FILE_TRANSFER) and ``user``'s policy allow: ``upload``,
    ``download``, both or neither."""
    from webconsole.policies.enforce import file_ways

    return file_ways(user=user)


def transfer_options(*, session: DesktopSession, user: AbstractBaseUser | None = None) -> dict:
    """What the viewer page's Files panel needs: the ways allowed, the limits, the URLs."""
    ways = transfer_ways(user)
    return {"upload": "upload" in ways, "download": "download" in ways,
            "max_bytes": settings.WRD_UPLOAD_MAX_BYTES,
            "chunk_bytes": min(settings.WRD_UPLOAD_CHUNK_BYTES, messages.MAX_FILE_CHUNK),
            "uploads_url": f"/api/desktops/{session.pk}/uploads/", "files_url": f"/api/desktops/{session.pk}/files/"}


def refuse(status: int, reason: str, session: DesktopSession, user: AbstractBaseUser | None, *,
            offset: int | None = None) -> TransferRefused:
    log.warning("file transfer refused: %s desktop=%s user=%s", reason, session.pk,
                getattr(user, "username", "-"))
    return TransferRefused(status, reason, offset=offset)


def _require(way: str, session: DesktopSession, user: AbstractBaseUser | None) -> None:
    if way not in transfer_ways(user):
        where = "on this server" if way not in settings.WRD_FILE_TRANSFER else "by your policy"
        raise refuse(403, f"file {way} is turned off {where}", session, user)
    if session.state != DesktopState.RUNNING:
        raise refuse(409, f"the desktop is {session.state}", session, user)


def _call(session: DesktopSession, user: AbstractBaseUser | None, request: messages.Request, *,
          refused_status: int = 409):
    try:
        with services.host_client_for(session) as client:
            return client.call(request)
    except HostRefused as exc:
        raise refuse(refused_status, f"the desktop refused: {exc}", session, user) from None
    except HostError as exc:
        log.error("file transfer failed: %s desktop=%s", exc, session.pk)
        raise TransferRefused(502, f"the desktop did not answer: {exc}") from None


# -- uploads ------------------------------------------------------------------------------


def upload_create(*, session: DesktopSession, user: AbstractBaseUser, name: object, size: object
                  ) -> tuple[Upload, messages.FilePutReply]:
    """Begin an upload of ``size`` bytes to ``~/Uploads/<name>``: checked here, then begun on
    the host (an empty chunk: the folders are checked there now, and an empty file is done)."""
    _require("upload", session, user)
    try:
        name = check_name(name)
    except BadName as exc:
        raise refuse(400, f"bad file name {str(name)[:80]!r}: {exc}", session, user) from None
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= messages.MAX_FILE_SIZE:
        raise refuse(400, f"bad declared size {str(size)[:40]!r}", session, user)
    limit = settings.WRD_UPLOAD_MAX_BYTES
    if limit and size > limit:
        raise refuse(413, f"{size} bytes is over the upload limit of {limit}", session, user)
    upload = Upload(session.pk, user.pk, secrets.token_hex(16), name, size)
    reply = _call(session, user, messages.FilePut(upload.upload, name, size, 0, b""))
    if reply.offset != 0 or (size == 0) != (reply.name is not None):
        raise refuse(502, f"the desktop answered a new upload with {reply}", session, user)
    log.info("upload begun: %r (%d bytes) desktop=%s user=%s", name, size, session.pk, user.username)
    return upload, reply


def upload_from_token(*, session: DesktopSession, user: AbstractBaseUser, token: str) -> Upload:
    """The upload ``token`` names, when it was made for this desktop and user (else 404)."""
    try:
        desktop, owner, upload, name, size = signing.loads(token, salt=UPLOAD_SALT, max_age=UPLOAD_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        raise refuse(404, "no such upload (a bad or expired token)", session, user) from None
    if desktop != session.pk or owner != user.pk:
        raise refuse(404, "no such upload (another desktop's or user's)", session, user)
    return Upload(desktop, owner, upload, name, size)


def upload_offset(*, session: DesktopSession, user: AbstractBaseUser, upload: Upload) -> int:
    """Where the upload is: how many of its bytes the host holds. A finished upload's partial
    file is gone, so the host says 0; a client that sent every byte knows it is done."""
    _require("upload", session, user)
    offset = _call(session, user, messages.FileStat(upload.upload)).offset
    if offset > upload.size:
        raise refuse(502, f"the desktop holds {offset} bytes of a {upload.size}-byte upload", session, user)
    return offset


def upload_write(*, session: DesktopSession, user: AbstractBaseUser, upload: Upload, offset: int,
                 length: int, body: IO[bytes]) -> messages.FilePutReply:
    """Write ``length`` bytes read from ``body`` at ``offset``, in host-sized pieces."""
    _require("upload", session, user)
    if offset < 0 or length < 0:
        raise refuse(400, "offset and length must not be negative", session, user)
    if offset + length > upload.size:
        raise refuse(413, f"{offset + length} bytes would be more than the {upload.size} declared for "
                           f"{upload.name!r}", session, user)
    reply = messages.FilePutReply(offset)
    done = 0
    try:
        with services.host_client_for(session) as client:
            while True:
                piece = body.read(min(messages.MAX_FILE_CHUNK, length - done)) if done < length else b""
                if not piece and done < length:
                    raise refuse(400, f"the body ended after {done} of {length} bytes", session, user)
                at = offset + done
                try:
                    reply = client.call(messages.FilePut(upload.upload, upload.name, upload.size, at, piece))
                except HostRefused as exc:
                    current = client.call(messages.FileStat(upload.upload)).offset
                    if current != at:
                        raise refuse(409, f"the upload is at {current}, not {at}", session, user,
                                      offset=current) from None
                    raise refuse(409, f"the desktop refused: {exc}", session, user) from None
                done += len(piece)
                if reply.offset != offset + done or (reply.name is not None) != (reply.offset == upload.size):
                    raise refuse(502, f"the desktop answered {reply} to {done} bytes at {offset}", session, user)
                if done >= length:
                    break
    except HostRefused as exc:
        raise refuse(409, f"the desktop refused: {exc}", session, user) from None
    except HostError as exc:
        log.error("upload failed: %s desktop=%s", exc, session.pk)
        raise TransferRefused(502, f"the desktop did not answer: {exc}") from None
    if reply.name is not None:
        log.info("upload complete: ~/Uploads/%s (%d bytes) desktop=%s user=%s", reply.name, upload.size,
                 session.pk, user.username)
    return reply


# -- downloads ----------------------------------------------------------------------------


def download_list(*, session: DesktopSession, user: AbstractBaseUser) -> list[Download]:
    _require("download", session, user)
    reply = _call(session, user, messages.FileList())
    return [Download(f.name, f.size, f.mtime) for f in reply.files]


def download_size(*, session: DesktopSession, user: AbstractBaseUser, name: str) -> int:
    """The size of ``~/Downloads/<name>`` (404 when it is not offered)."""
    _require("download", session, user)
    try:
        name = check_name(name)
    except BadName as exc:
        raise refuse(400, f"bad file name {name[:80]!r}: {exc}", session, user) from None
    return _call(session, user, messages.FileGet(name, 0, 1), refused_status=404).size


async def download_stream(*, session: DesktopSession, name: str, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes ``start`` up to ``end`` (exclusive) of ``~/Downloads/<name>``, read from the host a
    piece at a time. A file that shrinks meanwhile ends the stream short (the client sees a
    body shorter than its Content-Length and can retry with a range); the host's pieces are
    checked to be what was asked."""
    client = await services.async_host_client_for(session)
    try:
        offset = start
        while offset < end:
            reply = await client.call(messages.FileGet(name, offset, min(DOWNLOAD_CHUNK, end - offset)))
            if reply.offset != offset or len(reply.data) > end - offset:
                log.warning("download cut: the desktop answered %d bytes at %d to a read at %d desktop=%s",
                            len(reply.data), reply.offset, offset, session.pk)
                return
            if not reply.data:
                log.warning("download cut: ~/Downloads/%s ended at %d of %d desktop=%s", name, offset, end,
                            session.pk)
                return
            offset += len(reply.data)
            yield reply.data
    except HostError as exc:
        log.warning("download cut: %s desktop=%s", exc, session.pk)
    finally:
        await client.close()
