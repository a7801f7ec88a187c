"""The session host: one process per desktop session.

It starts (or attaches to) the session's X server, runs the session's programs, and serves
the local control protocol (docs/session-host-protocol.md) on ``<runtime dir>/host.sock``:
frames (damage-driven, encoded once per session per format), cursor, input, clipboard,
resize, screenshots. When Xvfb or the session leader dies, or it is told to stop, it ends
every process of the session and removes its runtime files.

The host is made of parts with their own state, wired together here: ``SessionProcesses``
(compositor/session_processes.py: Xvfb, the bus, the leader, the Wayland compositor, exec'd
programs, the runtime directory), ``Capture`` (compositor/capture.py: the X connection,
damage, the encoders' snapshot, cursor and pointer), ``Pipeline`` (compositor/pipeline.py:
stream groups and encoders, the pump, pacing, the idle tick), ``InputSink``
(compositor/input.py) and ``Clipboard`` (compositor/clipboard.py). This module keeps the
control socket: its connections and one handler per request.

Run it as ``python -m compositor.host --runtime-dir DIR --width W --height H …``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from Xlib import X
from Xlib import error as xerror

from compositor import clipboard_files, linux, messages
from compositor import monitors as screen_monitors
from compositor.audio import AudioStreams, AudioSubscription
from compositor.capture import CONNECTION_LOST, MIN_SIZE, Capture, CaptureListener
from compositor.clipboard import Clipboard, ClipboardError
from compositor.downloads_watch import DownloadsWatch
from compositor.drives import DriveHub
from compositor.encoders import load_builtin_encoders
from compositor.files import FileRefused, Listed, UserFolders
from compositor.input import InputError, InputSink
from compositor.microphone import Microphone
from compositor.pipeline import Pipeline
from compositor.protocol import HostProtocol, LocalProtocolError, Message, RemoteProtocolError, encode_message
from compositor.session_processes import DEFAULT_STARTUP, SessionProcesses
from compositor.streams import Subscription
from compositor.touch import TouchRouter

log = logging.getLogger("compositor.host")

MAX_SEND_BUFFER = 64 * 1024 * 1024
# Seconds after start-up, and after the last subscriber left, before the free heap goes back to
# the kernel (linux.release_free_heap): the imports' and compilers' leftovers, and the frames,
# encoders and send buffers of the viewers that went.
HEAP_TRIM_DELAY = 2.0


@dataclass
class HostConfig:
    runtime_dir: Path
    width: int = 1280
    height: int = 800
    max_width: int = 1920
    max_height: int = 1200
    session: str = ""
    startup: str = DEFAULT_STARTUP
    wayland: bool = True
    max_fps: int = 120
    attach_display: str | None = None
    attach_xauthority: str | None = None
    attach_xauthority_fd: int | None = None  # the display's cookie (xauth entries) to read once
    first_display: int = 20
    display_number: int | None = None  # exactly this display (claimed by the sandbox)
    xvfb_binary: str = "Xvfb"
    listen_fd: int | None = None  # the control socket, bound by the sandbox
    token: str = ""
    home: str = ""
    fuse_fd: int | None = None  # /dev/fuse, mounted on ~/Drives by the sandbox (compositor/drives.py)
    extra_env: dict[str, str] = field(default_factory=dict)
    sound: bool = True  # a sound server for the desktop (compositor/sound.py)


# -- connections --------------------------------------------------------------------------


class Connection:
    """One client of the control socket."""

    def __init__(self, host: SessionHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.host = host
        self.reader = reader
        self.writer = writer
        self.protocol = HostProtocol()
        self.subscriptions: dict[int, Subscription] = {}
        self.closed = False

    def send(self, message: messages.HostMessage, *, request_id: Any = messages.NO_ID) -> None:
        if self._writable():
            self.writer.write(messages.pack(message, request_id=request_id))

    def send_frame(self, header: dict[str, Any], payload: bytes, stream: int, seq: int) -> None:
        """A frame whose header was encoded once for every subscriber (``Frame.encode``): only
        this subscriber's stream and sequence number are its own."""
        if self._writable():
            self.writer.write(encode_message({**header, "stream": stream, "seq": seq}, payload))

    def _writable(self) -> bool:
        if self.closed:
            return False
        transport = self.writer.transport
        if transport.is_closing():
            self.closed = True
            return False
        if transport.get_write_buffer_size() > MAX_SEND_BUFFER:
            log.warning("closing a control connection that stopped reading session=%s", self.host.cfg.session)
            self.close()
            return False
        return True

    def reply(self, request_id: Any, reply: messages.Reply | messages.ErrorReply) -> None:
        """Answer a request: the reply repeats its id (null when it had none)."""
        self.send(reply, request_id=request_id)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


# -- the host -----------------------------------------------------------------------------


class SessionHost:
    """One session's host: its parts, and the requests of the control socket's clients.

    The parts do not reach into each other: the capture reports to a ``CaptureListener`` (the
    pipeline hears damage and pointer motion, the host resizes, cursor changes and new pointer
    positions, which it pushes to subscribers); the pipeline reads the screen through the
    capture's methods; processes and pipeline tell ``request_stop`` when the session is over.
    """

    def __init__(self, cfg: HostConfig) -> None:
        self.cfg = cfg
        self.socket_path = cfg.runtime_dir / "host.sock" if cfg.listen_fd is None else None
        self.input: InputSink | None = None
        self.touch: TouchRouter | None = None
        self.clipboard: Clipboard | None = None
        self.copied_files: clipboard_files.CopiedFiles | None = None
        self.connections: set[Connection] = set()
        self.cursor: messages.Cursor | None = None
        self.started_at = time.time()
        self.stopping = asyncio.Event()
        self.processes = SessionProcesses(cfg, stopping=self.stopping, on_end=self.request_stop)
        self.capture = Capture(session=cfg.session, attached=self.attached, stopping=self.stopping)
        self.pipeline = Pipeline(self.capture, session=cfg.session, max_fps=cfg.max_fps, stopping=self.stopping,
                                 on_lost=self.request_stop)
        self.microphone = Microphone(self.processes.session_env, session=cfg.session, cwd=str(cfg.runtime_dir))
        self.audio = AudioStreams(self.processes.sound, session=cfg.session, env=self.processes.session_env,
                                  cwd=cfg.runtime_dir)
        self.stop_reason = ""
        self.monitors: tuple[messages.Monitor, ...] = ()  # the screen's layout; () is one monitor
        self._server: asyncio.AbstractServer | None = None
        self.folders = UserFolders(self.processes.home)
        self.downloads = DownloadsWatch(self.folders, self._downloads_changed, session=cfg.session)
        self.downloads_watchers: set[Connection] = set()  # pushed ``downloads`` (downloads_watch)
        self.drives = DriveHub(session=cfg.session)
        self._heap_trim: asyncio.TimerHandle | None = None

    # -- start-up -------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self.cfg.attach_display is not None

    async def start(self) -> None:
        await self.processes.start_display()
        self._open_display()
        if not self.attached and (self.cfg.width, self.cfg.height) != self.capture.max_size:
            await self.resize(self.cfg.width, self.cfg.height)
        if self.cfg.fuse_fd is not None:  # before the session's programs can look in ~/Drives
            self.drives.start(self.cfg.fuse_fd)
        await self.processes.start_session()
        if self.cfg.listen_fd is not None:
            sock = socket.socket(fileno=self.cfg.listen_fd)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))
            os.chmod(self.socket_path, 0o600)
        self.processes.write_state()
        loop = asyncio.get_running_loop()
        self.capture.start_reading()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "terminated")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "interrupted")
        self.processes.supervise()
        self._trim_heap_soon()
        log.info("session host ready session=%s display=%s size=%dx%d", self.cfg.session,
                 self.processes.display_name, *self.capture.size)

    def _open_display(self) -> None:
        """Connect the capture, and the parts that act on the display through its connection."""
        listener = CaptureListener(
            damaged=self.pipeline.screen_damaged, pointer_motion=self.pipeline.pointer_moved,
            resized=self._screen_resized,
            cursor_changed=self._cursor_changed, pointer_at=self._pointer_at, other_event=self._x_event,
            lost=self.request_stop,
        )
        display = self.capture.open(self.processes.display_name, self.processes.framebuffer_path, listener)
        self.input = InputSink(display)
        self.touch = TouchRouter(display, self.input.handle, session=self.cfg.session)
        self.clipboard = Clipboard(display, self._on_selection_change)
        display.flush()

    # -- stopping -------------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        if not self.stopping.is_set():
            self.stop_reason = reason
            log.info("session host stopping session=%s reason=%s", self.cfg.session, reason)
            self.stopping.set()

    async def shutdown(self) -> None:
        if self._heap_trim is not None:
            self._heap_trim.cancel()
        for conn in list(self.connections):
            conn.send(messages.Bye(self.stop_reason))
        self.pipeline.stop()
        self.capture.stop_reading()
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            try:
                await asyncio.wait_for(conn.writer.drain(), 1)
            except (TimeoutError, ConnectionError):
                pass
            conn.close()
        self.pipeline.close()
        self.audio.close()
        self.downloads.stop()
        if self.clipboard is not None:
            with contextlib.suppress(*CONNECTION_LOST, xerror.XError):  # the X server may be gone
                self.clipboard.close()
        self.capture.close()
        await self.microphone.close()
        await self.processes.stop()
        await self.drives.close()
        log.info("session host stopped session=%s reason=%s", self.cfg.session, self.stop_reason)

    # -- what the capture reports ---------------------------------------------------------

    def _screen_resized(self, width: int, height: int) -> None:
        self.pipeline.screen_resized(width, height)
        self._broadcast(messages.Resized(width, height, self.monitors))

    def _cursor_changed(self) -> None:
        if not self.connections:
            self.cursor = None
            return
        try:
            cursor = self.capture.read_cursor()
        except xerror.BadAccess:
            # The cursor of a client that has since disconnected (xsetroot -cursor_name): the
            # server refuses its image. The last one stays; the next change brings a new one.
            log.info("cursor image not readable (its client is gone) session=%s", self.cfg.session)
            return
        self.cursor = cursor
        self._broadcast(self.cursor, subscribers_only=True)
        # A new image often means the pointer went elsewhere: a warp (no raw motion) too.
        self.pipeline.pointer_moved()

    def _pointer_at(self, x: int, y: int) -> None:
        self._broadcast(messages.Pointer(x, y), subscribers_only=True)

    def _x_event(self, event: Any) -> None:
        """An event for the parts that act on the display: keymap changes, selection traffic."""
        if event.type == X.MappingNotify:
            self.input.reload_keymap()
        elif self.clipboard is not None:
            self.clipboard.handle_event(event)

    def _on_selection_change(self, selection: str) -> None:
        if any(c.subscriptions for c in self.connections):
            asyncio.get_running_loop().create_task(self._announce_selection(selection))

    async def _announce_selection(self, selection: str) -> None:
        try:
            targets = await self.clipboard.targets(selection)
            text = await self.clipboard.get(selection)
        except ClipboardError:
            return
        formats = []
        if messages.CLIPBOARD_IMAGE in targets:
            formats.append(messages.CLIPBOARD_IMAGE)
        if any(t in targets for t in clipboard_files.FILE_TARGETS):
            formats.append(messages.CLIPBOARD_FILES)
        self._broadcast(messages.ClipboardChanged(messages.Selection(selection), text, tuple(formats)),
                        subscribers_only=True)

    def _broadcast(self, message: messages.Push, *, subscribers_only: bool = False) -> None:
        for conn in list(self.connections):
            if not subscribers_only or conn.subscriptions:
                conn.send(message)

    def _unsubscribe(self, sub: Subscription | AudioSubscription) -> None:
        sub.conn.subscriptions.pop(sub.stream, None)
        if isinstance(sub, AudioSubscription):
            self.audio.unsubscribe(sub)
        else:
            self.pipeline.unsubscribe(sub)
        if not any(conn.subscriptions for conn in self.connections):
            self._trim_heap_soon()

    def _trim_heap_soon(self) -> None:
        """Give the free heap back to the kernel HEAP_TRIM_DELAY from now (once, however many
        subscribers leave meanwhile): 6-7 MiB after a 1080p viewer, ~1 MiB after start-up."""
        if self._heap_trim is not None:
            self._heap_trim.cancel()
        self._heap_trim = asyncio.get_running_loop().call_later(HEAP_TRIM_DELAY, self._trim_heap)

    def _trim_heap(self) -> None:
        self._heap_trim = None
        if not any(conn.subscriptions for conn in self.connections):
            linux.release_free_heap()

    # -- operations -----------------------------------------------------------------------

    async def resize(self, width: int, height: int, monitors: tuple[messages.Monitor, ...] = ()) -> tuple[int, int]:
        """The screen at ``width`` x ``height`` (clamped), laid out as those of ``monitors`` that
        fit it (compositor/monitors.py); every client hears of a change in either."""
        if self.attached:
            return self.capture.size
        max_width, max_height = self.capture.max_size
        target = (max(MIN_SIZE, min(int(width), max_width)), max(MIN_SIZE, min(int(height), max_height)))
        layout = screen_monitors.fit(monitors, *target, session=self.cfg.session)
        previous, before = self.monitors, self.capture.size
        self.monitors = layout  # before the resize, whose push carries it
        try:
            size = await self.capture.resize(width, height, self.processes.session_env())
        except BaseException:
            self.monitors = previous
            raise
        known = layout if size != before else previous  # what the clients were told
        if size != target:  # the X server set another size than asked: the layout is fitted to it
            layout = self.monitors = screen_monitors.fit(monitors, *size, session=self.cfg.session)
        if layout != previous:
            try:
                await asyncio.to_thread(screen_monitors.xrandr_set_monitors, self.processes.session_env(), layout)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("monitors not set session=%s: %s", self.cfg.session, exc)
                self.monitors = ()
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    await asyncio.to_thread(screen_monitors.xrandr_set_monitors, self.processes.session_env(), ())
            log.info("monitors set session=%s monitors=%s", self.cfg.session, " ".join(
                f"{m.width}x{m.height}+{m.x}+{m.y}{'*' if m.primary else ''}" for m in self.monitors) or "one")
        if self.monitors != known:
            self._broadcast(messages.Resized(*size, self.monitors))
        return size

    def status(self) -> dict[str, Any]:
        status = {
            "session": self.cfg.session, "pid": os.getpid(), "uid": os.getuid(), "attached": self.attached,
            "started_at": self.started_at, "last_input": self.input.last_input,
            **self.processes.status(), **self.capture.status(), **self.pipeline.status(),
        }
        audio = self.audio.status()
        status["encoders"] = [*status["encoders"], *audio]
        status["subscribers"] += sum(e["subscribers"] for e in audio)
        return status

    # -- the control socket ---------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self, reader, writer)
        self.connections.add(conn)
        try:
            while not conn.closed:
                data = await reader.read(1 << 16)
                if not data:
                    break
                conn.protocol.receive_data(data)
                for msg in conn.protocol.events():
                    if conn.closed:
                        break
                    await self._handle(conn, msg)
                self.capture.drain_queued()
        except RemoteProtocolError as exc:
            log.warning("closing control connection: %s session=%s", exc, self.cfg.session)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("closing control connection after an internal error session=%s", self.cfg.session)
        finally:
            for sub in list(conn.subscriptions.values()):
                self._unsubscribe(sub)
            if self.touch is not None:
                self.touch.forget(conn)
            self.drives.connection_closed(conn)
            self._downloads_unwatch(conn)
            self.connections.discard(conn)
            self.microphone.release(conn)
            conn.close()

    async def _handle(self, conn: Connection, msg: Message) -> None:
        """Decode one request and run its handler. A malformed or unknown request is answered
        with an error naming what is wrong, and the connection stays; a request that fails for
        a reason of the session's (X, clipboard, a program that will not start) too. Anything
        else is a bug of ours: logged, and only this client's connection is closed."""
        rid = msg.get("id")
        try:
            request = messages.decode_request(msg.header, msg.payload)
        except RemoteProtocolError as exc:
            log.info("refused a request: %s session=%s", exc, self.cfg.session)
            conn.reply(rid, messages.ErrorReply(str(exc)))
            return
        handler = self.HANDLERS[type(request)]
        try:
            await handler(self, conn, request, rid)
        except (InputError, ClipboardError, ValueError, TypeError, OSError, LocalProtocolError,
                subprocess.SubprocessError) as exc:
            conn.reply(rid, messages.ErrorReply(str(exc)))
        except xerror.XError as exc:
            conn.reply(rid, messages.ErrorReply(f"X error: {exc}"))
        except FileRefused as exc:
            log.warning("refused %s: %s session=%s", request.op, exc, self.cfg.session)
            conn.reply(rid, messages.ErrorReply(str(exc)))
        except Exception:
            log.exception("%s request failed; closing its connection session=%s", request.op, self.cfg.session)
            conn.close()

    # One handler per request; each answers through ``conn.reply`` (or not at all: ack, keyframe).

    async def _on_status(self, conn: Connection, request: messages.Status, rid: Any) -> None:
        status = self.status()
        encoders = tuple(messages.EncoderStatus(**e) for e in status.pop("encoders"))
        conn.reply(rid, messages.StatusReply(**status, encoders=encoders))

    async def _on_screenshot(self, conn: Connection, request: messages.Screenshot, rid: Any) -> None:
        self.capture.refresh_attached()
        png = await asyncio.to_thread(self.capture.screenshot_png)
        width, height = self.capture.size
        conn.reply(rid, messages.ScreenshotReply(format="png", width=width, height=height, png=png))

    async def _on_input(self, conn: Connection, request: messages.Input, rid: Any) -> None:
        width, height = self.capture.size
        events = [e.within(width, height) if isinstance(e, messages.MoveEvent | messages.TouchEvent) else e
                  for e in request.events]
        touch = (messages.TouchEvent, messages.TouchFrameEvent)
        if any(isinstance(e, touch) for e in events):
            # In order: each run of other events as one batch, each touch event to the router.
            batch: list[dict[str, Any]] = []
            for e in events:
                if isinstance(e, touch):
                    if batch:
                        self.input.handle(batch)
                        batch = []
                    self.touch.handle(conn, e)
                else:
                    batch.append(e.encode())
            self.input.handle(batch)
        else:
            self.input.handle([e.encode() for e in events])
        self.pipeline.input_arrived()
        self.capture.after_x_request()
        if rid is not None:  # fire-and-forget otherwise
            conn.reply(rid, messages.Ok())

    async def _on_clipboard_get(self, conn: Connection, request: messages.ClipboardGet, rid: Any) -> None:
        text = await self.clipboard.get(request.selection.value)
        conn.reply(rid, messages.ClipboardGetReply(text))

    async def _on_clipboard_set(self, conn: Connection, request: messages.ClipboardSet, rid: Any) -> None:
        self.clipboard.set(request.text, request.selection.value)
        conn.reply(rid, messages.Ok())

    # Clipboard images and files (docs/clipboard.md).

    async def _on_clipboard_read(self, conn: Connection, request: messages.ClipboardRead, rid: Any) -> None:
        data = await self.clipboard.read(request.format, request.selection.value, limit=messages.MAX_CLIPBOARD_BYTES)
        if data is None or not data.startswith(messages.PNG_SIGNATURE):
            raise ClipboardError(f"the clipboard holds no {request.format}")
        conn.reply(rid, messages.ClipboardReadReply(request.format, data))

    async def _on_clipboard_set_image(self, conn: Connection, request: messages.ClipboardSetImage, rid: Any) -> None:
        self.clipboard.set_targets({messages.CLIPBOARD_IMAGE: request.png}, request.selection.value)
        conn.reply(rid, messages.Ok())

    async def _on_clipboard_files(self, conn: Connection, request: messages.ClipboardFiles, rid: Any) -> None:
        data = None
        for target in clipboard_files.FILE_TARGETS:
            data = await self.clipboard.read(target, request.selection.value, limit=clipboard_files.MAX_LIST_BYTES)
            if data:
                break
        if not data:
            raise ClipboardError("the clipboard holds no files")
        copied = await asyncio.to_thread(clipboard_files.CopiedFiles, clipboard_files.parse_uri_list(data))
        self.copied_files = copied
        conn.reply(rid, messages.ClipboardFilesReply(
            copied.serial, tuple(messages.ClipboardFile(f.name, f.size) for f in copied.files)))

    async def _on_clipboard_file_read(self, conn: Connection, request: messages.ClipboardFileRead, rid: Any) -> None:
        copied = self.copied_files
        if copied is None or copied.serial != request.serial:
            raise FileRefused(f"file list {request.serial} is no longer the clipboard's")
        size, data = await asyncio.to_thread(copied.read, request.index, request.offset, request.length)
        conn.reply(rid, messages.ClipboardFileReadReply(size, request.offset, data))

    async def _on_clipboard_set_files(self, conn: Connection, request: messages.ClipboardSetFiles, rid: Any) -> None:
        targets, text = await asyncio.to_thread(clipboard_files.offer_targets, self.folders, request.names)
        self.clipboard.set_targets(targets, request.selection.value, text=text)
        log.info("clipboard: %d pasted file(s) offered from ~/Uploads session=%s", len(request.names),
                 self.cfg.session)
        conn.reply(rid, messages.Ok())

    async def _on_resize(self, conn: Connection, request: messages.Resize, rid: Any) -> None:
        width, height = await self.resize(request.width, request.height, request.monitors)
        conn.reply(rid, messages.ResizeReply(width, height, self.monitors))

    async def _on_subscribe(self, conn: Connection, request: messages.Subscribe, rid: Any) -> None:
        if self.audio.handles(request.format):  # compositor/audio.py: no cursor, no window
            sub = self.audio.subscribe(conn, request.format, dict(request.options), self.pipeline.next_stream)
            self.pipeline.next_stream += 1
            conn.subscriptions[sub.stream] = sub
            conn.reply(rid, messages.SubscribeReply(sub.stream, *self.capture.size, self.monitors))
            return
        sub = self.pipeline.subscribe(conn, request.format, dict(request.options), request.window)
        conn.subscriptions[sub.stream] = sub
        if self.cursor is None:
            self.cursor = self.capture.read_cursor()
        width, height = self.capture.size
        conn.reply(rid, messages.SubscribeReply(stream=sub.stream, width=width, height=height, monitors=self.monitors))
        if self.cursor is not None:  # after the reply: the subscriber knows its stream by then
            conn.send(self.cursor)

    async def _on_unsubscribe(self, conn: Connection, request: messages.Unsubscribe, rid: Any) -> None:
        sub = conn.subscriptions.get(request.stream)
        if sub is not None:
            self._unsubscribe(sub)
        conn.reply(rid, messages.Ok())

    async def _on_ack(self, conn: Connection, request: messages.Ack, rid: Any) -> None:
        sub = conn.subscriptions.get(request.stream)
        if isinstance(sub, AudioSubscription):
            self.audio.acknowledge(sub, request.seq)
        elif sub is not None:
            self.pipeline.acknowledge(sub, request.seq)

    async def _on_keyframe(self, conn: Connection, request: messages.Keyframe, rid: Any) -> None:
        sub = conn.subscriptions.get(request.stream)
        if sub is not None and not isinstance(sub, AudioSubscription):
            self.pipeline.request_keyframe(sub)

    async def _on_exec(self, conn: Connection, request: messages.Exec, rid: Any) -> None:
        pid = self.processes.exec(list(request.argv), dict(request.env) if request.env else None)
        conn.reply(rid, messages.ExecReply(pid))

    async def _on_microphone(self, conn: Connection, request: messages.Microphone, rid: Any) -> None:
        self.microphone.feed(request.pcm, sender=conn)

    async def _on_stop(self, conn: Connection, request: messages.Stop, rid: Any) -> None:
        conn.reply(rid, messages.Ok())
        self.request_stop("stop requested")

    # File transfer (compositor/files.py): the I/O runs in a thread, as this process is the
    # user's; the folders' checks are there.

    async def _on_file_put(self, conn: Connection, request: messages.FilePut, rid: Any) -> None:
        offset, name = await asyncio.to_thread(self.folders.upload_write, request.upload, request.name,
                                               request.size, request.offset, request.data)
        if name is not None:
            log.info("upload complete: ~/Uploads/%s (%d bytes) session=%s", name, offset, self.cfg.session)
        conn.reply(rid, messages.FilePutReply(offset, name))

    async def _on_file_stat(self, conn: Connection, request: messages.FileStat, rid: Any) -> None:
        conn.reply(rid, messages.FileStatReply(await asyncio.to_thread(self.folders.upload_offset, request.upload)))

    async def _on_file_list(self, conn: Connection, request: messages.FileList, rid: Any) -> None:
        listed = await asyncio.to_thread(self.folders.downloads)
        conn.reply(rid, messages.FileListReply(_file_entries(listed)))

    async def _on_downloads_watch(self, conn: Connection, request: messages.DownloadsWatch, rid: Any) -> None:
        if not request.on:
            self._downloads_unwatch(conn)
            conn.reply(rid, messages.DownloadsWatchReply())
            return
        self.downloads_watchers.add(conn)
        try:
            listed = await self.downloads.start()
        except OSError:  # no inotify descriptor to be had (the user's limit): an error reply
            self._downloads_unwatch(conn)
            raise
        if conn in self.downloads_watchers:  # not gone or unwatched meanwhile
            conn.reply(rid, messages.DownloadsWatchReply(_file_entries(listed)))

    def _downloads_unwatch(self, conn: Connection) -> None:
        self.downloads_watchers.discard(conn)
        if not self.downloads_watchers:
            self.downloads.stop()

    def _downloads_changed(self, listed: list[Listed]) -> None:
        push = messages.DownloadsChanged(_file_entries(listed))
        for conn in list(self.downloads_watchers):
            conn.send(push)

    async def _on_file_get(self, conn: Connection, request: messages.FileGet, rid: Any) -> None:
        size, data = await asyncio.to_thread(self.folders.download_read, request.name, request.offset,
                                             request.length)
        conn.reply(rid, messages.FileGetReply(size, request.offset, data))
    async def _on_drive_attach(self, conn: Connection, request: messages.DriveAttach, rid: Any) -> None:
        conn.reply(rid, self.drives.attach(conn, request, self.cfg.home))

    async def _on_drive_detach(self, conn: Connection, request: messages.DriveDetach, rid: Any) -> None:
        self.drives.detach(conn, request.drive)
        conn.reply(rid, messages.Ok())

    async def _on_drive_result(self, conn: Connection, request: messages.DriveResult, rid: Any) -> None:
        self.drives.result(conn, request)

    HANDLERS: ClassVar[dict[type[messages.Request[Any]], Callable[..., Awaitable[None]]]] = {
        messages.Status: _on_status,
        messages.Screenshot: _on_screenshot,
        messages.Input: _on_input,
        messages.ClipboardGet: _on_clipboard_get,
        messages.ClipboardSet: _on_clipboard_set,
        messages.Resize: _on_resize,
        messages.Subscribe: _on_subscribe,
        messages.Unsubscribe: _on_unsubscribe,
        messages.Ack: _on_ack,
        messages.Keyframe: _on_keyframe,
        messages.Exec: _on_exec,
        messages.Stop: _on_stop,
        messages.Microphone: _on_microphone,
        messages.FilePut: _on_file_put,
        messages.FileStat: _on_file_stat,
        messages.FileList: _on_file_list,
        messages.FileGet: _on_file_get,
        messages.DriveAttach: _on_drive_attach,
        messages.DriveDetach: _on_drive_detach,
        messages.DriveResult: _on_drive_result,
        messages.ClipboardRead: _on_clipboard_read,
        messages.ClipboardSetImage: _on_clipboard_set_image,
        messages.ClipboardFiles: _on_clipboard_files,
        messages.ClipboardFileRead: _on_clipboard_file_read,
        messages.ClipboardSetFiles: _on_clipboard_set_files,
        messages.DownloadsWatch: _on_downloads_watch,
    }


def _file_entries(listed: list[Listed]) -> tuple[messages.FileEntry, ...]:
    return tuple(messages.FileEntry(f.name, f.size, f.mtime) for f in listed)


# -- entry point --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[HostConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m compositor.host", description=__doc__.split("\n")[0])
    p.add_argument("--runtime-dir", type=Path, required=True)
    p.add_argument("--session", default="")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=800)
    p.add_argument("--max-width", type=int, default=1920)
    p.add_argument("--max-height", type=int, default=1200)
    p.add_argument("--startup", default=DEFAULT_STARTUP, help="shell command: the session leader")
    p.add_argument("--no-wayland", action="store_true")
    p.add_argument("--no-sound", action="store_true", help="no sound server for the desktop")
    p.add_argument("--max-fps", type=int, default=120)
    p.add_argument("--first-display", type=int, default=20)
    p.add_argument("--display-number", type=int, help="use exactly this display (claimed by the sandbox)")
    p.add_argument("--listen-fd", type=int, help="serve the control protocol on this listening socket")
    p.add_argument("--token", default="", help="tag of the session's processes (processes.TOKEN_ENV)")
    p.add_argument("--home", default="", help="the user's home: where programs start")
    p.add_argument("--fuse-fd", type=int, help="serve the drives folder on this open /dev/fuse (mounted)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="an extra variable of the session's environment (repeatable)")
    p.add_argument("--xvfb", default="Xvfb", help="the Xvfb binary (WRD_XVFB)")
    p.add_argument("--attach", metavar="DISPLAY", help="serve an existing X display instead of starting Xvfb")
    p.add_argument("--attach-xauthority", default=os.environ.get("XAUTHORITY", ""))
    p.add_argument("--attach-xauthority-fd", type=int,
                   help="read the attached display's cookie (xauth entries) from this descriptor")
    p.add_argument("--log-file", type=Path)
    p.add_argument("--ready-fd", type=int, help="write one JSON line here when ready (or failed)")
    p.add_argument("--daemonize", action="store_true", help="detach from the parent (double fork)")
    a = p.parse_args(argv)
    cfg = HostConfig(
        runtime_dir=a.runtime_dir.absolute(), session=a.session, width=a.width, height=a.height,
        max_width=a.max_width, max_height=a.max_height, startup=a.startup, wayland=not a.no_wayland,
        max_fps=a.max_fps, first_display=a.first_display, attach_display=a.attach,
        attach_xauthority=a.attach_xauthority if a.attach else None,
        attach_xauthority_fd=a.attach_xauthority_fd if a.attach else None, xvfb_binary=a.xvfb,
        display_number=a.display_number, listen_fd=a.listen_fd, token=a.token, home=a.home, fuse_fd=a.fuse_fd,
        extra_env=dict(item.split("=", 1) for item in a.env if "=" in item), sound=not a.no_sound,
    )
    return cfg, a


def _report(fd: int | None, payload: dict[str, Any]) -> None:
    if fd is None:
        return
    try:
        os.write(fd, (json.dumps(payload) + "\n").encode())
        os.close(fd)
    except OSError:
        pass


async def _amain(cfg: HostConfig, ready_fd: int | None) -> int:
    host = SessionHost(cfg)
    try:
        await host.start()
    except Exception as exc:
        log.exception("session host failed to start session=%s", cfg.session)
        host.stop_reason = f"start failed: {exc}"
        try:
            await host.shutdown()  # first, so that a caller told of the failure finds nothing left
        finally:
            _report(ready_fd, {"ok": False, "error": str(exc)})
        return 1
    _report(ready_fd, {"ok": True, **host.status()})
    await host.stopping.wait()
    try:
        await host.shutdown()
    except Exception:
        log.exception("session host shutdown failed session=%s", cfg.session)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    if args.daemonize:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
    fmt = "%(asctime)s %(levelname)s %(name)s %(message)s"
    handlers = [logging.FileHandler(args.log_file)] if args.log_file else [logging.StreamHandler()]
    if args.log_file and args.daemonize:
        # Anything written to stderr (a crash, a library's warning) lands in the log too.
        fd = os.open(args.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
    logging.basicConfig(level=os.environ.get("WRD_LOG_LEVEL", "INFO"), format=fmt, handlers=handlers)
    load_builtin_encoders()
    return asyncio.run(_amain(cfg, args.ready_fd))


if __name__ == "__main__":
    sys.exit(main())
