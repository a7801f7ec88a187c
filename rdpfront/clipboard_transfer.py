"""Images and files on the clipboard, between an RDP client and its session host
(docs/clipboard.md). The asyncio adapter over the sans-IO ``ClipboardChannel``, in the manner of
``drive_relay.py``: each exchange runs as a task that writes PDUs and awaits the client's
answers (each within ``ANSWER_TIMEOUT``) and the host's replies.

Client to session:

- an image (a registered "PNG" format, else CF_DIBV5, else CF_DIB) is asked for, its DIB read
  by ``rdpfront.dib`` (sizes checked against the bytes delivered) and given to the host as PNG;
- files (FileGroupDescriptorW): the file list is asked for, every descriptor checked — a name
  with ``\\``, ``/``, ``..``, control characters or otherwise refused by
  ``compositor.filenames.check_name`` is skipped with a log line, as are folders (their
  files come as ``folder\\file`` names and are skipped with them), a descriptor without
  FD_FILESIZE has its size asked for (FILECONTENTS_SIZE) — and the files are streamed:
  ranges of ``CHUNK`` bytes asked for one after the other, each stored by the host
  (``file_put``, into ``~/Uploads``) before the next is asked. A file whose bytes run short of
  its declared size, or past it, is dropped at that point, with a log line. When the list's
  total is over ``max_file_bytes`` nothing is fetched. The stored files are then offered on the
  session's clipboard as a uri-list (``clipboard_set_files``).

Session to client: the host's ``clipboard`` push says what the session holds; CF_DIB and
CF_DIBV5 requests are answered from the host's PNG; FileGroupDescriptorW from the host's file
list, and File Contents requests (size or range) by reading the file through the host, on
demand: this process never opens a user's file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable

from compositor import messages
from compositor.client import HostError
from compositor.filenames import BadName, check_name
from rdpfront import cliprdr, dib
from rdpfront import events as ev
from rdpfront.channels.clipboard import FILE_LIST_ID, ClipboardChannel
from rdpfront.errors import RemoteProtocolError

log = logging.getLogger(__name__)

ANSWER_TIMEOUT = 30.0  # seconds a client has to answer one data or file contents request
CHUNK = 1024 * 1024  # bytes of one File Contents range
DEFAULT_MAX_FILE_BYTES = 1024**3  # a copied file list's total size (ServerSettings.clipboard_max_file_bytes)
WORK_EVENTS = (ev.ClipboardData, ev.ClipboardDataRequested, ev.ClipboardFileContentsRequested,
               ev.ClipboardFileContents)


class TransferFailed(Exception):
    pass


class ClientDeclined(TransferFailed):
    """The client failed a request for what it announced: FreeRDP does for the generic format
    list it announces before it knows what its clipboard holds, then announces the real one."""


def offer_choices(event: ev.ClipboardOffer) -> list[tuple[str, int]]:
    """What of the client's offer this module fetches, best first: [("files", id)], or the
    image formats [("png", id) | ("dib", id), …] to try in turn, or [] (text, or nothing: the
    text relay's part). FreeRDP 2.x's unnamed 0xD011 comes last: FreeRDP 2.11 announces it for
    an X image/png but fails every request for it.

    A list holding format 0 is FreeRDP's provisional one: every format it knows, CF_RAW (0)
    first, sent before it has asked its X clipboard's owner for its targets; the real list
    follows. Nothing is fetched for it (FreeRDP 2.11 fails such a request, and now and then
    crashes in ``ClipboardSetData`` when the request for its file list meets X text)."""
    if 0 in event.formats:
        return []
    by_name = {name: fid for fid, name in zip(event.formats, event.names, strict=False) if name}
    if cliprdr.FILE_GROUP_DESCRIPTOR_W in by_name:
        return [("files", by_name[cliprdr.FILE_GROUP_DESCRIPTOR_W])]
    choices = [("png", by_name[name]) for name in cliprdr.PNG_FORMAT_NAMES if name in by_name][:1]
    choices += [("dib", fid) for fid in (cliprdr.CF_DIBV5, cliprdr.CF_DIB) if fid in event.formats]
    names = event.names or ("",) * len(event.formats)
    choices += [("png", fid) for fid, name in zip(event.formats, names, strict=False)
                if fid == cliprdr.FREERDP_PNG_ID and not name]
    return choices


def offer_kind(event: ev.ClipboardOffer) -> tuple[str, int] | None:
    """The first of ``offer_choices`` (None when there is none)."""
    choices = offer_choices(event)
    return choices[0] if choices else None


class ClipboardTransfers:
    """One connection's clipboard images and files. ``handle(item)`` takes the channel's events
    (``WORK_EVENTS``, and a ``ClipboardOffer`` that ``offer_kind`` picks)."""

    def __init__(self, conn, write: Callable[[bytes], None],
                 host_call: Callable[[messages.Request], Awaitable], *,
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, log_context: str = "") -> None:
        self.conn = conn
        self._write = write
        self._host_call = host_call
        self.max_file_bytes = max_file_bytes
        self._log = log_context
        self._fetch: asyncio.Task | None = None  # the client's offer being fetched
        self._data: asyncio.Future | None = None
        self._data_format: int | None = None
        self._contents: dict[int, asyncio.Future] = {}
        self._stream_ids = iter(range(1, 2**32))
        self._serial: int | None = None  # the host's file list the client was last given
        self.served_files: tuple[messages.ClipboardFile, ...] = ()  # the list the client was last given
        self._tasks: set[asyncio.Task] = set()
        self.stored: list[str] = []  # names of the last files fetched (for logs and tests)

    @property
    def channel(self) -> ClipboardChannel:
        channel = self.conn.channel(cliprdr.CHANNEL_NAME)
        if not isinstance(channel, ClipboardChannel):
            raise TransferFailed("no clipboard channel")
        return channel

    def handle(self, item: object) -> None:
        if isinstance(item, ev.ClipboardOffer):
            choices = offer_choices(item)
            if choices:
                if self._fetch is not None:
                    self._fetch.cancel()
                self._fetch = self._spawn(self._fetch_offer(choices))
        elif isinstance(item, ev.ClipboardData):
            # The answer to the request of this offer (an earlier offer's comes first when the
            # client answered that one late; it is dropped).
            if self._data is not None and not self._data.done() and item.format_id == self._data_format:
                self._data.set_result(item.data)
        elif isinstance(item, ev.ClipboardFileContents):
            future = self._contents.pop(item.stream_id, None)
            if future is not None and not future.done():
                future.set_result(item)
            else:
                log.info("%s clipboard: file contents for stream %d, which was not asked for; dropped",
                         self._log, item.stream_id)
        elif isinstance(item, ev.ClipboardDataRequested):
            self._spawn(self._serve_data(item.format_id))
        elif isinstance(item, ev.ClipboardFileContentsRequested):
            self._spawn(self._serve_contents(item.request))  # type: ignore[arg-type]

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Awaitable) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- client to session ---------------------------------------------------------------------

    async def _ask(self, format_id: int) -> bytes | None:
        self._data = asyncio.get_running_loop().create_future()
        self._data_format = format_id
        self._write(self.channel.request_data(format_id))
        try:
            return await asyncio.wait_for(self._data, ANSWER_TIMEOUT)
        except TimeoutError:
            self._write(self.channel.request_abandoned())
            raise TransferFailed(f"no answer to the request for format {format_id:#x}") from None

    async def _contents_of(self, index: int, flags: int, position: int = 0, requested: int = 0) -> bytes:
        stream_id = next(self._stream_ids)
        future = asyncio.get_running_loop().create_future()
        self._contents[stream_id] = future
        request = cliprdr.FileContentsRequest(stream_id, index, flags, position, requested)
        self._write(self.channel.request_file_contents(request))
        try:
            answer: ev.ClipboardFileContents = await asyncio.wait_for(future, ANSWER_TIMEOUT)
        except TimeoutError:
            raise TransferFailed(f"no answer for file {index} at {position}") from None
        finally:
            self._contents.pop(stream_id, None)
        if not answer.ok:
            raise TransferFailed(f"the client failed file {index} at {position}")
        return answer.data

    async def _fetch_offer(self, choices: list[tuple[str, int]]) -> None:
        for kind, format_id in choices:
            try:
                if kind == "files":
                    await self._fetch_files(format_id)
                else:
                    await self._fetch_image(kind, format_id)
                return
            except ClientDeclined as exc:  # the next of the formats it offered, if any
                log.info("%s clipboard: the client's %s (format %#x) not taken: %s", self._log, kind, format_id, exc)
            except (TransferFailed, RemoteProtocolError, HostError) as exc:
                log.warning("%s clipboard: the client's %s not taken: %s", self._log, kind, exc)
                return

    async def _fetch_image(self, kind: str, format_id: int) -> None:
        data = await self._ask(format_id)
        if data is None:
            raise ClientDeclined("the client failed the image request")
        if kind == "png":
            dib.png_size(data)  # a PNG at least by its header; the session's programs decode it
            png = data
        else:
            image = dib.decode_dib(data, max_pixels=messages.MAX_CLIPBOARD_BYTES // 4)
            png = await asyncio.to_thread(dib.image_to_png, image)
        if len(png) > messages.MAX_CLIPBOARD_BYTES:
            raise TransferFailed(f"an image of {len(png)} bytes as PNG, over {messages.MAX_CLIPBOARD_BYTES}")
        await self._host_call(messages.ClipboardSetImage(png=png))
        log.info("%s clipboard: an image from the client (%d bytes of PNG)", self._log, len(png))

    def _acceptable(self, index: int, item: cliprdr.FileDescriptor) -> bool:
        why = None
        if item.is_dir:
            why = "a folder (folders are not copied)"
        else:
            try:
                check_name(item.name)
            except BadName as exc:
                why = str(exc)
            if item.name.startswith(".") and why is None:
                why = "a hidden name"
        if why is not None:
            log.warning("%s clipboard: the client's file %d %.80r skipped: %s", self._log, index, item.name, why)
        return why is None

    async def _fetch_files(self, format_id: int) -> None:
        data = await self._ask(format_id)
        if data is None:
            raise ClientDeclined("the client failed the file list request")
        listing = cliprdr.FileList.decode(data)
        wanted = []
        for index, item in enumerate(listing.files):
            if not self._acceptable(index, item):
                continue
            if not item.flags & cliprdr.FileDescriptorFlags.FD_FILESIZE:
                try:
                    item = await self._size_asked(index, item)
                except (TransferFailed, RemoteProtocolError) as exc:
                    log.warning("%s clipboard: the client's file %d %.80r skipped: %s", self._log, index,
                                item.name, exc)
                    continue
            wanted.append((index, item))
        total = sum(f.size for _, f in wanted)
        if self.max_file_bytes and total > self.max_file_bytes:
            raise TransferFailed(f"{len(wanted)} files of {total} bytes in all, over the limit of "
                                 f"{self.max_file_bytes}")
        names = []
        for index, item in wanted:
            try:
                name = await self._fetch_file(index, item)
            except TransferFailed as exc:
                log.warning("%s clipboard: the client's file %d %.80r dropped: %s", self._log, index, item.name, exc)
                continue
            names.append(name)
        self.stored = names
        if names:
            await self._host_call(messages.ClipboardSetFiles(names=tuple(names)))
            log.info("%s clipboard: %d file(s) from the client stored and offered", self._log, len(names))

    async def _size_asked(self, index: int, item: cliprdr.FileDescriptor) -> cliprdr.FileDescriptor:
        """A descriptor without FD_FILESIZE (aardwolf sends only attributes): the size asked
        for with a FILECONTENTS_SIZE request ([2.2.5.3]), as Windows does."""
        data = await self._contents_of(index, cliprdr.FILECONTENTS_SIZE, 0, 8)
        size = cliprdr.FileContentsResponse(0, data).file_size()
        return dataclasses.replace(item, size=size, flags=item.flags | cliprdr.FileDescriptorFlags.FD_FILESIZE)

    async def _fetch_file(self, index: int, item: cliprdr.FileDescriptor) -> str:
        upload = uuid.uuid4().hex
        offset = 0
        name = None
        while name is None:
            want = min(CHUNK, item.size - offset)
            data = await self._contents_of(index, cliprdr.FILECONTENTS_RANGE, offset, want) if want else b""
            if len(data) > want:
                raise TransferFailed(f"{len(data)} bytes at {offset} where {want} were asked for")
            if want and not data:
                raise TransferFailed(f"the data ends at {offset} of the {item.size} bytes declared")
            reply = await self._host_call(messages.FilePut(upload=upload, name=item.name, size=item.size,
                                                           offset=offset, data=data))
            offset, name = reply.offset, reply.name
        return name

    # -- session to client ---------------------------------------------------------------------

    async def _serve_data(self, format_id: int) -> None:
        data = None
        try:
            if format_id in (cliprdr.CF_DIB, cliprdr.CF_DIBV5):
                reply = await self._host_call(messages.ClipboardRead(format=messages.CLIPBOARD_IMAGE))
                image = await asyncio.to_thread(dib.png_to_image, reply.data,
                                                messages.MAX_CLIPBOARD_BYTES // 4)
                data = dib.encode_dib(image, v5=format_id == cliprdr.CF_DIBV5)
            elif format_id == FILE_LIST_ID:
                reply = await self._host_call(messages.ClipboardFiles())
                self._serial, self.served_files = reply.serial, reply.files
                data = cliprdr.FileList(tuple(
                    cliprdr.FileDescriptor(
                        f.name, f.size,
                        cliprdr.FileDescriptorFlags.FD_ATTRIBUTES | cliprdr.FileDescriptorFlags.FD_FILESIZE
                        | cliprdr.FileDescriptorFlags.FD_SHOWPROGRESSUI)
                    for f in reply.files)).encode()
        except (HostError, RemoteProtocolError) as exc:
            log.info("%s clipboard: format %#x not served: %s", self._log, format_id, exc)
            data = None
        self._write(self.channel.respond_data(data))

    async def _serve_contents(self, request: cliprdr.FileContentsRequest) -> None:
        data = None
        try:
            if self._serial is None or not 0 <= request.index < len(self.served_files):
                raise TransferFailed(f"no file {request.index} was offered")
            if request.flags == cliprdr.FILECONTENTS_SIZE:
                data = self.served_files[request.index].size.to_bytes(8, "little")
            else:
                reply = await self._host_call(messages.ClipboardFileRead(
                    serial=self._serial, index=request.index, offset=request.position,
                    length=min(request.requested, messages.MAX_FILE_CHUNK)))
                data = reply.data
        except (TransferFailed, HostError, RemoteProtocolError) as exc:
            log.info("%s clipboard: file contents of %d not served: %s", self._log, request.index, exc)
            data = None
        self._write(self.channel.respond_file_contents(request.stream_id, data))
