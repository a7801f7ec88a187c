"""The client's shared folders, relayed to the session host: file operations the session asks
for (``drive_call``) become rdpdr I/O requests, and their completions a ``drive_result``.

This is the asyncio adapter over the sans-IO ``DriveChannel``: each call runs as a task that
sends its requests (a stat is Create, two Query Information and Close) and awaits their
completions, each within ``IRP_TIMEOUT``; a client that does not answer fails that call with
EIO, never the connection or the session. Paths come checked from the host's message
(components only, no ``..``, separators or control characters: ``messages.path_name_ok``)
and are checked again here before they become the client's ``\\a\\b`` paths; file names the
client lists are checked the same way, and those that fail are left out with a log line.
Handles are the client's FileIds, and only those this connection opened may be used.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable

from compositor import messages
from compositor.messages import DriveAction, DriveEntry, DriveResult, OpenFlag
from rdpfront import events as ev
from rdpfront import rdpdr
from rdpfront.channels.drives import DriveChannel
from rdpfront.cursor import Reader
from rdpfront.errors import LocalProtocolError, RemoteProtocolError
from rdpfront.policy import DriveAccess

log = logging.getLogger(__name__)

IRP_TIMEOUT = 10.0  # seconds a client has to complete one I/O request
MAX_OPEN_HANDLES = 1024  # files the session holds open on one connection's drives
MAX_CONCURRENT_CALLS = 64
DRIVES_FOLDER = "Drives"

STATUS_ERRNO = {
    rdpdr.NtStatus.STATUS_NO_SUCH_FILE: errno.ENOENT,
    rdpdr.NtStatus.STATUS_OBJECT_NAME_NOT_FOUND: errno.ENOENT,
    rdpdr.NtStatus.STATUS_OBJECT_PATH_NOT_FOUND: errno.ENOENT,
    rdpdr.NtStatus.STATUS_OBJECT_NAME_COLLISION: errno.EEXIST,
    rdpdr.NtStatus.STATUS_ACCESS_DENIED: errno.EACCES,
    rdpdr.NtStatus.STATUS_CANNOT_DELETE: errno.EACCES,
    rdpdr.NtStatus.STATUS_SHARING_VIOLATION: errno.EBUSY,
    rdpdr.NtStatus.STATUS_DISK_FULL: errno.ENOSPC,
    rdpdr.NtStatus.STATUS_FILE_IS_A_DIRECTORY: errno.EISDIR,
    rdpdr.NtStatus.STATUS_NOT_A_DIRECTORY: errno.ENOTDIR,
    rdpdr.NtStatus.STATUS_DIRECTORY_NOT_EMPTY: errno.ENOTEMPTY,
    rdpdr.NtStatus.STATUS_OBJECT_NAME_INVALID: errno.EINVAL,
    rdpdr.NtStatus.STATUS_INVALID_PARAMETER: errno.EINVAL,
    rdpdr.NtStatus.STATUS_NOT_SUPPORTED: errno.EOPNOTSUPP,
    rdpdr.NtStatus.STATUS_NOT_IMPLEMENTED: errno.EOPNOTSUPP,
    rdpdr.NtStatus.STATUS_NO_MORE_FILES: errno.ENODATA,
}


class DriveFailed(Exception):
    def __init__(self, err: int, why: str = "") -> None:
        super().__init__(why or errno.errorcode.get(err, str(err)))
        self.errno = err


def nt_path(parts: tuple[str, ...]) -> str:
    """The client's path of ``parts`` under its shared folder (``\\`` for the folder itself)."""
    if not all(messages.path_name_ok(p) for p in parts):
        raise DriveFailed(errno.EINVAL, "a path component that may not leave the session")
    return "\\" + "\\".join(parts)


class DriveRelay:
    """One RDP connection's shared folders. ``handle(item)`` takes the channel's drive events
    and the host's ``drive_call`` pushes; ``host_ready()`` once the session host is connected."""

    def __init__(self, conn, write: Callable[[bytes], None], host_call: Callable[[messages.Request], Awaitable],
                 host_send: Callable[[messages.Request], None], log_context: str = "") -> None:
        self.conn = conn
        self._write = write
        self._host_call = host_call
        self._host_send = host_send
        self._log = log_context
        self._host_ready = False
        self.drives: dict[int, str] = {}  # device id -> name as announced
        self.attached: dict[int, messages.DriveAttachReply] = {}
        self._waiting: dict[int, asyncio.Future[ev.DriveIoCompleted]] = {}
        self._handles: dict[int, set[int]] = {}  # device id -> FileIds this connection opened
        self._tasks: set[asyncio.Task] = set()
        self._calls = asyncio.Semaphore(MAX_CONCURRENT_CALLS)
        self.access = DriveAccess.READ_WRITE  # the user's policy (set at login)

    # ---- what the driver hands over ---------------------------------------------------------

    def handle(self, item: ev.DriveAnnounced | ev.DriveRemoved | ev.DriveIoCompleted | messages.DriveCall) -> None:
        match item:
            case ev.DriveIoCompleted():
                future = self._waiting.pop(item.completion_id, None)
                if future is not None and not future.done():
                    future.set_result(item)
            case ev.DriveAnnounced(device_id=device_id, name=name):
                if self.access == DriveAccess.OFF:
                    log.info("%s drive %r not shown in the session: turned off by policy", self._log, name)
                    return
                self.drives[device_id] = name
                if self._host_ready:
                    self._spawn(self._attach(device_id, name))
            case ev.DriveRemoved(device_id=device_id):
                self.drives.pop(device_id, None)
                self._handles.pop(device_id, None)
                if self.attached.pop(device_id, None) is not None:
                    self._host_send(messages.DriveDetach(device_id))
            case messages.DriveCall():
                self._spawn(self._serve(item))

    def host_ready(self) -> None:
        self._host_ready = True
        if self.access == DriveAccess.OFF:  # announced before the policy was known
            self.drives.clear()
        for device_id, name in self.drives.items():
            self._spawn(self._attach(device_id, name))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    def _spawn(self, coro: Awaitable) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- attaching ---------------------------------------------------------------------------

    async def _attach(self, device_id: int, name: str) -> None:
        folder = folder_name(name, device_id)
        try:
            reply = await self._host_call(messages.DriveAttach(device_id, folder))
        except Exception as exc:  # the session has no drives folder, or the host is going
            log.warning("%s drive %r not shown in the session: %s", self._log, name, exc)
            return
        if device_id in self.drives:
            self.attached[device_id] = reply
            log.info("%s drive %r shared as %s", self._log, name, reply.path)

    # ---- one call -----------------------------------------------------------------------------

    async def _serve(self, call: messages.DriveCall) -> None:
        async with self._calls:
            try:
                if call.drive not in self.attached:
                    raise DriveFailed(errno.ENODEV, "no such drive on this connection")
                if self.access == DriveAccess.OFF:  # turned off while the connection was open
                    raise DriveFailed(errno.EACCES, "the shared folders are turned off by policy")
                if self.access != DriveAccess.READ_WRITE and _writes(call):
                    raise DriveFailed(errno.EROFS, "the shared folders are read-only by policy")
                result = await self._run(call)
            except DriveFailed as exc:
                if exc.errno not in (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY):
                    log.info("%s drive %d %s %s failed: %s", self._log, call.drive, call.action.value,
                             "/".join(call.path), exc)
                result = DriveResult(call.call, errno=exc.errno)
            except RemoteProtocolError as exc:  # an information buffer the client got wrong
                log.warning("%s drive %d %s: unreadable answer from the client: %s", self._log, call.drive,
                            call.action.value, exc)
                result = DriveResult(call.call, errno=errno.EIO)
            except Exception:  # a bug of ours: this call fails, the connection goes on
                log.exception("%s drive %d %s failed", self._log, call.drive, call.action.value)
                result = DriveResult(call.call, errno=errno.EIO)
        self._host_send(result)

    async def _irp(self, device_id: int, file_id: int, body: rdpdr.IoBody) -> object:
        channel = self.conn.channel(rdpdr.CHANNEL_NAME)
        if not isinstance(channel, DriveChannel):
            raise DriveFailed(errno.ENODEV, "the client has no rdpdr channel")
        try:
            completion_id, data = channel.request(device_id, file_id, body)
        except LocalProtocolError as exc:
            raise DriveFailed(errno.EAGAIN if "outstanding" in str(exc) else errno.ENODEV, str(exc)) from None
        future: asyncio.Future[ev.DriveIoCompleted] = asyncio.get_running_loop().create_future()
        self._waiting[completion_id] = future
        self._write(data)
        try:
            done = await asyncio.wait_for(future, IRP_TIMEOUT)
        except TimeoutError:
            channel.forget(completion_id)
            log.warning("%s drive %d: the client did not answer %s within %g s", self._log, device_id,
                        type(body).__name__, IRP_TIMEOUT)
            raise DriveFailed(errno.EIO, "the client did not answer") from None
        finally:
            self._waiting.pop(completion_id, None)
        if done.status != rdpdr.NtStatus.STATUS_SUCCESS:
            err = STATUS_ERRNO.get(done.status, errno.EIO)  # type: ignore[call-overload]
            raise DriveFailed(err, f"NTSTATUS {done.status:#010x}")
        return done.response

    async def _create(self, device_id: int, parts: tuple[str, ...], access: int, disposition: int,
                      options: int = 0) -> int:
        response = await self._irp(device_id, 0, rdpdr.CreateRequest(access, disposition, options, nt_path(parts)))
        if not isinstance(response, rdpdr.CreateResponse):
            raise DriveFailed(errno.EIO, "a create answered without a file id")
        return response.file_id

    async def _close(self, device_id: int, file_id: int) -> None:
        await self._irp(device_id, file_id, rdpdr.CloseRequest())

    async def _query(self, device_id: int, file_id: int, info_class: int) -> bytes:
        response = await self._irp(device_id, file_id, rdpdr.QueryInformationRequest(info_class))
        if not isinstance(response, rdpdr.LengthResponse):
            raise DriveFailed(errno.EIO)
        return response.data

    async def _set(self, device_id: int, file_id: int, info_class: int, buffer: bytes) -> None:
        await self._irp(device_id, file_id, rdpdr.SetInformationRequest(info_class, buffer))

    async def _with_file(self, device_id: int, parts: tuple[str, ...], access: int, options: int,
                         action: Callable[[int], Awaitable[object]], disposition: int = rdpdr.Disposition.FILE_OPEN):
        file_id = await self._create(device_id, parts, access, disposition, options)
        try:
            return await action(file_id)
        finally:
            try:
                await self._close(device_id, file_id)
            except DriveFailed as exc:
                log.info("%s drive %d: close failed: %s", self._log, device_id, exc)

    async def _run(self, call: messages.DriveCall) -> DriveResult:
        d, parts, action = call.drive, call.path, call.action
        if action == DriveAction.STAT:
            async def stat(file_id: int) -> DriveEntry:
                basic = rdpdr.BasicInformation.decode(_reader(await self._query(
                    d, file_id, rdpdr.FileInfoClass.FileBasicInformation)))
                standard = rdpdr.StandardInformation.decode(_reader(await self._query(
                    d, file_id, rdpdr.FileInfoClass.FileStandardInformation)))
                return _entry(parts[-1] if parts else "x", basic, standard.end_of_file)
            entry = await self._with_file(d, parts, rdpdr.FILE_READ_ATTRIBUTES | rdpdr.SYNCHRONIZE, 0, stat)
            return DriveResult(call.call, entry=entry)
        if action == DriveAction.LIST:
            entries = await self._with_file(d, parts, rdpdr.FILE_READ_DATA | rdpdr.SYNCHRONIZE,
                                            rdpdr.FILE_DIRECTORY_FILE, lambda fid: self._list(d, fid, parts))
            return DriveResult(call.call, data=DriveResult.encode_listing(entries))
        if action == DriveAction.OPEN:
            return DriveResult(call.call, handle=await self._open(d, parts, call.flags))
        if action == DriveAction.READ:
            file_id = self._handle(call)
            length = min(call.length or 0, messages.MAX_DRIVE_IO)
            response = await self._irp(d, file_id, rdpdr.ReadRequest(length, call.offset or 0))
            if not isinstance(response, rdpdr.LengthResponse) or len(response.data) > length:
                log.warning("%s drive %d: read answered with more than the %d bytes asked for", self._log, d, length)
                raise DriveFailed(errno.EIO)
            return DriveResult(call.call, length=len(response.data), data=response.data)
        if action == DriveAction.WRITE:
            file_id = self._handle(call)
            response = await self._irp(d, file_id, rdpdr.WriteRequest(call.offset or 0, call.data))
            if not isinstance(response, rdpdr.LengthResponse) or response.length > len(call.data):
                raise DriveFailed(errno.EIO, "write answered with more than was written")
            return DriveResult(call.call, length=response.length)
        if action == DriveAction.CLOSE:
            file_id = self._handle(call)
            self._handles[d].discard(file_id)
            await self._close(d, file_id)
            return DriveResult(call.call)
        if action == DriveAction.TRUNCATE:
            buffer = rdpdr.end_of_file_bytes(call.size or 0)
            await self._with_file(d, parts, rdpdr.GENERIC_WRITE | rdpdr.SYNCHRONIZE, rdpdr.FILE_NON_DIRECTORY_FILE,
                                  lambda fid: self._set(d, fid, rdpdr.FileInfoClass.FileEndOfFileInformation, buffer))
            return DriveResult(call.call)
        if action == DriveAction.SETTIMES:
            basic = rdpdr.BasicInformation(
                last_access_time=rdpdr.ns_to_nt_time(call.atime) if call.atime is not None else 0,
                last_write_time=rdpdr.ns_to_nt_time(call.mtime) if call.mtime is not None else 0)
            await self._with_file(d, parts, rdpdr.FILE_WRITE_ATTRIBUTES | rdpdr.SYNCHRONIZE, 0,
                                  lambda fid: self._set(d, fid, rdpdr.FileInfoClass.FileBasicInformation,
                                                        rdpdr.info_bytes(basic)))
            return DriveResult(call.call)
        if action == DriveAction.MKDIR:
            await self._with_file(d, parts, rdpdr.GENERIC_READ | rdpdr.SYNCHRONIZE, rdpdr.FILE_DIRECTORY_FILE,
                                  _nothing, rdpdr.Disposition.FILE_CREATE)
            return DriveResult(call.call)
        if action in (DriveAction.UNLINK, DriveAction.RMDIR):
            if not parts:
                raise DriveFailed(errno.EBUSY, "the shared folder itself")
            options = rdpdr.FILE_DIRECTORY_FILE if action == DriveAction.RMDIR else rdpdr.FILE_NON_DIRECTORY_FILE
            await self._with_file(d, parts, rdpdr.DELETE | rdpdr.SYNCHRONIZE, options,
                                  lambda fid: self._set(d, fid, rdpdr.FileInfoClass.FileDispositionInformation,
                                                        rdpdr.disposition_bytes()))
            return DriveResult(call.call)
        if action == DriveAction.RENAME:
            if not parts or not call.target:
                raise DriveFailed(errno.EBUSY, "the shared folder itself")
            info = rdpdr.RenameInformation(nt_path(call.target), OpenFlag.REPLACE in call.flags)
            await self._with_file(d, parts, rdpdr.DELETE | rdpdr.SYNCHRONIZE, 0,
                                  lambda fid: self._set(d, fid, rdpdr.FileInfoClass.FileRenameInformation,
                                                        rdpdr.info_bytes(info)))
            return DriveResult(call.call)
        if action == DriveAction.STATFS:
            async def statfs(file_id: int) -> rdpdr.FullSizeInformation:
                response = await self._irp(d, file_id, rdpdr.QueryVolumeRequest(
                    rdpdr.FsInfoClass.FileFsFullSizeInformation))
                if not isinstance(response, rdpdr.LengthResponse):
                    raise DriveFailed(errno.EIO)
                return rdpdr.FullSizeInformation.decode(_reader(response.data))
            info = await self._with_file(d, (), rdpdr.FILE_READ_ATTRIBUTES | rdpdr.SYNCHRONIZE,
                                         rdpdr.FILE_DIRECTORY_FILE, statfs)
            unit = min(info.sectors_per_unit * info.bytes_per_sector, 1 << 30)
            return DriveResult(call.call, size=min(info.total_units * unit, 2**63 - 1),
                               free=min(info.caller_available_units * unit, 2**63 - 1))
        raise DriveFailed(errno.ENOSYS)

    async def _open(self, d: int, parts: tuple[str, ...], flags: frozenset[OpenFlag]) -> int:
        handles = self._handles.setdefault(d, set())
        if len(handles) >= MAX_OPEN_HANDLES:
            raise DriveFailed(errno.EMFILE, f"{MAX_OPEN_HANDLES} files open on this drive")
        dispositions = rdpdr.Disposition
        if OpenFlag.CREATE in flags:
            disposition = dispositions.FILE_CREATE if OpenFlag.EXCLUSIVE in flags else (
                dispositions.FILE_OVERWRITE_IF if OpenFlag.TRUNCATE in flags else dispositions.FILE_OPEN_IF)
        else:
            disposition = dispositions.FILE_OVERWRITE if OpenFlag.TRUNCATE in flags else dispositions.FILE_OPEN
        access = rdpdr.GENERIC_READ | rdpdr.SYNCHRONIZE | (rdpdr.GENERIC_WRITE if OpenFlag.WRITE in flags else 0)
        file_id = await self._create(d, parts, access, disposition, rdpdr.FILE_NON_DIRECTORY_FILE)
        handles.add(file_id)
        return file_id

    def _handle(self, call: messages.DriveCall) -> int:
        if call.handle is None or call.handle not in self._handles.get(call.drive, ()):
            raise DriveFailed(errno.EBADF, "a handle this connection did not open")
        return call.handle

    async def _list(self, d: int, file_id: int, parts: tuple[str, ...]) -> list[DriveEntry]:
        entries: list[DriveEntry] = []
        pattern = nt_path(parts).rstrip("\\") + "\\*"
        initial = True
        while len(entries) < messages.MAX_DRIVE_LISTING:
            body = rdpdr.QueryDirectoryRequest(rdpdr.FileInfoClass.FileDirectoryInformation, initial,
                                               pattern if initial else "")
            initial = False
            try:
                response = await self._irp(d, file_id, body)
            except DriveFailed as exc:
                if exc.errno in (errno.ENODATA, errno.ENOENT):  # no (more) files
                    break
                raise
            if not isinstance(response, rdpdr.LengthResponse):
                raise DriveFailed(errno.EIO)
            if not response.data:
                break
            info = rdpdr.DirectoryInformation.decode(_reader(response.data))
            if info.name in (".", ".."):
                continue
            if not messages.path_name_ok(info.name):
                log.warning("%s drive %d: a listed name that cannot be shown, left out: %r", self._log, d,
                            info.name[:80])
                continue
            entries.append(_entry(info.name, rdpdr.BasicInformation(
                info.creation_time, info.last_access_time, info.last_write_time, info.change_time, info.attributes),
                info.end_of_file))
        return entries


WRITING_ACTIONS = frozenset({DriveAction.WRITE, DriveAction.TRUNCATE, DriveAction.SETTIMES, DriveAction.MKDIR,
                             DriveAction.UNLINK, DriveAction.RMDIR, DriveAction.RENAME})
WRITING_FLAGS = frozenset({OpenFlag.WRITE, OpenFlag.CREATE, OpenFlag.TRUNCATE})


def _writes(call: messages.DriveCall) -> bool:
    """Whether ``call`` would change the client's folder (or open a file to)."""
    return call.action in WRITING_ACTIONS or (call.action == DriveAction.OPEN and bool(WRITING_FLAGS & call.flags))


async def _nothing(file_id: int) -> None:
    return None


def _reader(data: bytes) -> Reader:
    return Reader(data)


def _entry(name: str, basic: rdpdr.BasicInformation, size: int) -> DriveEntry:
    return DriveEntry(name=name, is_dir=bool(basic.attributes & rdpdr.FILE_ATTRIBUTE_DIRECTORY),
                      size=min(size, 2**63 - 1), mtime=rdpdr.nt_time_to_ns(basic.last_write_time),
                      atime=rdpdr.nt_time_to_ns(basic.last_access_time),
                      ctime=rdpdr.nt_time_to_ns(basic.change_time),
                      readonly=bool(basic.attributes & rdpdr.FILE_ATTRIBUTE_READONLY))


def folder_name(name: str, device_id: int) -> str:
    """The folder a drive gets in the session: its name with anything a folder name may not
    hold replaced, at most ``MAX_DRIVE_NAME`` characters (``drive<id>`` when nothing is left)."""
    cleaned = "".join(c if c.isprintable() and c not in '/\\:*?"<>|' else "_" for c in name).strip(" .")
    cleaned = cleaned[:messages.MAX_DRIVE_NAME]
    return cleaned if messages.path_name_ok(cleaned) else f"drive{device_id}"
