"""The browser viewer's WebSocket: authorise, subscribe to the session host, relay.

No encoding here: the session host encodes once per session and pushes frames; this consumer
translates between the browser's wire format (``protocol.py``, docs/viewer-protocol.md) and
the host's local protocol, and enforces the per-socket limits:

- a bounded outbox: past ``MAX_OUTBOX_*`` a frame is dropped (acknowledged to the host for the
  viewer, and a keyframe asked for once the viewer catches up); pointer updates are coalesced;
- flow control is end to end: the host keeps at most ``window`` frames unacknowledged per
  viewer, and only the browser's acks (after drawing) release more, so a viewer that never
  reads never makes anything grow;
- malformed, oversized or unknown messages close this socket with a reason; input floods too;
- view-only sockets have their input, clipboard, resize and microphone ignored here, server-side
  (a viewer through a share is view-only unless the share gives control; revoking the share or
  switching its control reaches the socket through ``sharing.live.ShareWatch``);
- the user's policy (webconsole/policies): no socket without browser access; clipboard text is
  dropped in a direction it turns off; both rechecked with the account when the console
  publishes a change of either (webconsole/core/changes.py; no timer while nothing changes);
- microphone audio is relayed as it comes (the host paces it to real time); a socket sending
  more than ``MICROPHONE_FLOOD_FACTOR`` times real time for a second is closed as a flood;
- the Files panel's download list is pushed (the host watches ``~/Downloads``) to a socket whose
  user may download, rechecked with the policy (``webconsole/viewer/downloads.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied, ValidationError

from compositor import messages
from compositor.client import HostClient, HostError
from compositor.protocol import LocalProtocolError, RemoteProtocolError
from webconsole.core import changes, metrics
from webconsole.desktops import services
from webconsole.desktops.models import DesktopState
from webconsole.policies.enforce import viewer_policy
from webconsole.recordings import history
from webconsole.viewer.downloads import downloads_allowed, downloads_message
from webconsole.viewer.latency import DirectReceive
from webconsole.viewer.protocol import (
    MICROPHONE_FLOOD_FACTOR,
    Ack,
    Audio,
    Clipboard,
    CloseCode,
    Input,
    InputBudget,
    Keyframe,
    Microphone,
    Resize,
    Subscribe,
    ViewerProtocolError,
    encode_server,
    parse_client,
)
from webconsole.viewer.selectors import account_still_signed_in, viewer_access

log = logging.getLogger(__name__)

MAX_OUTBOX_MESSAGES = 64
MAX_OUTBOX_BYTES = 16 * 1024 * 1024
WINDOW = 4  # frames in flight per viewer (the host's flow-control window)
TOUCH_EVERY = 30.0  # seconds between "last activity" writes while input flows
# Stream options per preset and format (docs/viewer-protocol.md, *Presets*). The page names a
# preset, never options. "balanced" is the desktop's one shared encoder: every browser and RDP
# client on it differs only in the per-subscriber ``images`` variant (prle/WebP here). The others
# are streams of their own: "quality" a finer quantiser and quicker lossless touch-ups; "low"
# a coarser quantiser, at most 15 frames a second (merged damage: fewer, not later, frames) and
# moving text as video too (``flat`` 0: a scrolling terminal in H.264 at qp 36 is half the bytes
# of it in WebP lossless; it is touched up losslessly once it settles, typing stays lossless).
PRESET_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "balanced": {"h264": {"images": "web"}, "jpeg": {}},
    "quality": {"h264": {"images": "web", "qp": 22, "settle": 0.15}, "jpeg": {"quality": 92, "settle": 0.15}},
    "low": {"h264": {"images": "web", "qp": 36, "fps": 15, "flat": 0}, "jpeg": {"quality": 50, "fps": 15, "flat": 0}},
}
CLOSE_STATUS = {401: CloseCode.UNAUTHENTICATED, 403: CloseCode.FORBIDDEN, 404: CloseCode.NOT_FOUND}


class ViewerConsumer(DirectReceive, AsyncWebsocketConsumer):
    # No channel layer: frames come straight from the host's socket to this consumer (no Redis
    # hop per frame, and a socket never waits on the layer). An alias with no config gives None.
    channel_layer_alias = "wrd-viewer-needs-no-layer"
    # Received messages skip Channels' per-message database cleanup thread hop (latency.py):
    # handling them reaches the database only through database_sync_to_async.

    async def connect(self) -> None:
        self.host: HostClient | None = None
        self.sender: asyncio.Task | None = None
        self.closing = False
        desktop_id = int(self.scope["url_route"]["kwargs"]["desktop_id"])
        self.label = f"desktop={desktop_id}"
        # Accept first so the browser sees our close code (a refused handshake is just 1006).
        await self.accept()
        access = await database_sync_to_async(viewer_access)(user=self.scope.get("user"), desktop_id=desktop_id)
        if access.session is None:
            log.info("viewer refused %s status=%d", self.label, access.status)
            await self.close(code=int(CLOSE_STATUS[access.status]))
            return
        self.session = access.session
        self.user = self.scope["user"]
        self.label = f"desktop={desktop_id} user={self.user.pk}"
        query = self.scope.get("query_string", b"").decode(errors="replace")
        self.asked_view_only = "view_only=1" in query.split("&")
        # A viewer through a share (not the owner's, not staff's) is view-only unless the share
        # gives control; the owner switches that live (``_share_control``).
        self.share = access.share
        self.view_only = self.asked_view_only or (self.share is not None and not self.share.control)
        refusal, self.clipboard_ways = await database_sync_to_async(viewer_policy)(user=self.user)
        if refusal is not None:
            log.info("viewer refused %s: %s", self.label, refusal)
            await self.close(code=int(CloseCode.FORBIDDEN), reason=refusal)
            return
        if self.session.state != DesktopState.RUNNING:
            await self.close(code=int(CloseCode.STOPPED))
            return
        self.outbox: deque[tuple[str, bytes, int | None]] = deque()  # kind, bytes, frame seq
        self.outbox_bytes = 0
        self.wakeup = asyncio.Event()
        self.stream: int | None = None
        self.format: str | None = None
        self.forwarded_seq = 0
        self.audio_stream: int | None = None
        self.dropped_frames = 0
        self.dropped_audio = 0
        self.want_keyframe = False
        self.budget = InputBudget()
        rate = messages.MICROPHONE_RATE * 2 * MICROPHONE_FLOOD_FACTOR
        self.microphone_budget = InputBudget(rate=rate, burst=rate)
        self.last_touch = 0.0
        try:
            self.host = await services.async_host_client_for(self.session, on_event=self._host_push)
        except HostError as exc:
            log.warning("viewer cannot reach host %s: %s", self.label, exc)
            self.host = None
            await self.close(code=int(CloseCode.STOPPED))
            return
        self.sender = asyncio.create_task(self._send_loop())
        self.downloads_on = False
        await self._downloads(await database_sync_to_async(downloads_allowed)(
            user=self.user, shared=self.share is not None))
        self.watcher = asyncio.create_task(self._watch_host())
        self.account_watcher = asyncio.create_task(self._watch_account())
        self.counted = True
        metrics.VIEWERS.inc()
        self.history_id = await history.async_connection_opened(
            desktop_id=self.session.pk, user=self.user, kind="browser",
            address=(self.scope.get("client") or ("",))[0] or "", view_only=self.view_only)
        if self.share is not None:
            from webconsole.sharing.live import ShareWatch, note_shared_viewer

            self.share_watch = ShareWatch(self.share.pk, user=self.user, connection_id=self.history_id,
                                          control=self.share.control, on_revoked=self._share_revoked,
                                          on_control=self._share_control, label=self.label)
            await self.share_watch.start()
            await note_shared_viewer(user=self.user, share=self.share,
                                     address=(self.scope.get("client") or ("",))[0] or "")
        log.info("viewer connected %s view_only=%s", self.label, self.view_only)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        for task in (getattr(self, "sender", None), getattr(self, "watcher", None),
                     getattr(self, "account_watcher", None)):
            if task is not None:
                task.cancel()
        if getattr(self, "share_watch", None) is not None:
            await self.share_watch.stop()
        if getattr(self, "counted", False):
            self.counted = False
            metrics.VIEWERS.dec()
        if getattr(self, "history_id", None) is not None:
            await history.async_connection_closed(connection_id=self.history_id)
        if getattr(self, "host", None) is not None:
            host, self.host = self.host, None
            await host.close()
        log.info("viewer disconnected %s code=%s dropped_frames=%d dropped_audio=%d", getattr(self, "label", "?"),
                 code, getattr(self, "dropped_frames", 0), getattr(self, "dropped_audio", 0))

    async def _close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        # autobahn wants a plain int, not an IntEnum.
        await self.close(code=int(code), reason=reason[:120])

    async def _share_revoked(self, reason: str) -> None:
        if not self.closing:  # the reason goes first as a bye (a close frame's reason is not sent on)
            await self.send(bytes_data=encode_server({"op": "bye", "reason": reason}))
        await self._close(CloseCode.REVOKED, reason)

    async def _share_control(self, control: bool) -> None:
        self.view_only = self.asked_view_only or not control
        self._queue("control", encode_server({"op": "view_only", "view_only": self.view_only}))
        if getattr(self, "history_id", None) is not None:
            await history.async_connection_view_only(connection_id=self.history_id, view_only=self.view_only)
        log.info("viewer %s view_only=%s (share control changed)", self.label, self.view_only)

    # -- browser -> host ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.host is None or self.closing:
            return
        try:
            msg = parse_client(bytes_data if bytes_data is not None else text_data)
            await self._handle(msg)
        except ViewerProtocolError as exc:
            log.warning("viewer protocol error %s: %s", self.label, exc.reason)
            await self._close(exc.code, exc.reason)
        except HostError as exc:
            log.warning("viewer lost host %s: %s", self.label, exc)
            await self._close(CloseCode.HOST_UNREACHABLE, "session host unreachable")

    async def _handle(self, msg: Any) -> None:
        assert self.host is not None
        if isinstance(msg, Ack):
            if self.stream is not None and 0 < msg.seq <= self.forwarded_seq:
                self.host.send(messages.Ack(stream=self.stream, seq=msg.seq))
                if self.want_keyframe and not self.outbox:
                    self.want_keyframe = False
                    self.host.send(messages.Keyframe(stream=self.stream))
        elif isinstance(msg, Input):
            if not self.budget.spend(len(msg.events), time.monotonic()):
                raise ViewerProtocolError("input flood", CloseCode.FLOOD)
            if self.view_only:
                return
            try:
                events = tuple(messages.decode_input_event(e) for e in msg.events)
            except RemoteProtocolError as exc:
                raise ViewerProtocolError(str(exc)) from None
            self.host.send(messages.Input(events=events))
            await self._touch()
        elif isinstance(msg, Subscribe):
            await self._subscribe(msg.format, msg.preset, compressed=msg.compressed)
        elif isinstance(msg, Keyframe):
            if self.stream is not None:
                self.host.send(messages.Keyframe(stream=self.stream))
        elif isinstance(msg, Clipboard) and not self.view_only:
            if not self.clipboard_ways.to_desktop:  # the user's policy: not into the desktop
                log.info("viewer clipboard to the desktop dropped by policy %s", self.label)
                self._queue("control", encode_server(
                    {"op": "error", "error": "clipboard: copying into the desktop is turned off by your policy"}))
                return
            try:
                await self.host.call(messages.ClipboardSet(text=msg.text))
            except LocalProtocolError:  # longer than a host message header carries (64 KiB)
                self._queue("control", encode_server({"op": "error", "error": "clipboard: text too long"}))
        elif isinstance(msg, Resize) and not self.view_only:
            await self._resize(msg.width, msg.height)
        elif isinstance(msg, Microphone):
            if not self.microphone_budget.spend(len(msg.pcm), time.monotonic()):
                raise ViewerProtocolError("microphone flood", CloseCode.FLOOD)
            if not self.view_only:
                self.host.send(messages.Microphone(pcm=msg.pcm))
        elif isinstance(msg, Audio):
            await self._audio(msg.format, msg.accept)

    async def _subscribe(self, fmt: str, preset: str, *, compressed: bool = False) -> None:
        """(Re)subscribe: the old stream is left first, then the new one starts with a keyframe."""
        assert self.host is not None
        if self.stream is not None:
            old, self.stream = self.stream, None
            await self.host.call(messages.Unsubscribe(stream=old))
        self._drop_frames()

        def subscribed(reply: messages.SubscribeReply) -> None:
            # Runs before the stream's first frame is pushed, so "subscribed" is queued ahead of
            # it: the page drops every frame between its subscribe and this answer (the old
            # stream's, still on the wire) and takes every frame after it.
            self.stream, self.format, self.forwarded_seq = reply.stream, fmt, 0
            self._queue("control", encode_server({
                "op": "subscribed", "format": fmt, "preset": preset, "width": reply.width,
                "height": reply.height, "view_only": self.view_only, "desktop": self.session.pk,
            }))

        options = PRESET_OPTIONS[preset][fmt]
        if compressed and options.get("images") == "web":
            # A compressed socket also takes few-colour images left for its deflate (``indexed``):
            # the same encoder, another image variant.
            options = {**options, "images": "webz"}
        await self.host.call(messages.Subscribe(format=fmt, options=options, window=WINDOW), on_reply=subscribed)
        log.info("viewer subscribed %s format=%s preset=%s", self.label, fmt, preset)

    async def _audio(self, fmt: str | None, accept: tuple[str, ...] = ()) -> None:
        """(Re)subscribe to the desktop's sound, or leave it (``None``). With ``accept``, the
        host may give the page another format it decodes, to share a running encode (each
        frame says its codec). Audio frames are not acknowledged: when the outbox is full they
        are dropped (``_host_push``)."""
        assert self.host is not None
        if self.audio_stream is not None:
            old, self.audio_stream = self.audio_stream, None
            await self.host.call(messages.Unsubscribe(stream=old))
        if fmt is None:
            self._queue("control", encode_server({"op": "audio_subscribed", "format": None}))
            return

        def subscribed(reply: messages.SubscribeReply) -> None:
            self.audio_stream = reply.stream
            self._queue("control", encode_server({"op": "audio_subscribed", "format": fmt}))

        try:
            options = {"accept": list(accept)} if accept else {}
            await self.host.call(messages.Subscribe(format=fmt, options=options, window=WINDOW), on_reply=subscribed)
        except HostError as exc:  # e.g. a desktop without a sound server: the page goes on silent
            self._queue("control", encode_server({"op": "error", "error": f"audio: {exc}"}))
            return
        log.info("viewer listens %s format=%s", self.label, fmt)

    async def _downloads(self, on: bool) -> None:
        """Have the host push the download list to this page (docs/files.md), or stop it."""
        if on == self.downloads_on or self.host is None:
            return
        self.downloads_on = on

        def listed(reply: messages.DownloadsWatchReply) -> None:
            if self.downloads_on:
                self._queue("downloads", downloads_message(self.session.pk, reply.files))

        try:
            await self.host.call(messages.DownloadsWatch(on=on), on_reply=listed)
        except HostError as exc:  # the page still lists downloads when its panel opens
            self.downloads_on = False
            log.warning("viewer gets no pushed download list %s: %s", self.label, exc)

    async def _resize(self, width: int, height: int) -> None:
        try:
            await database_sync_to_async(services.desktop_resize)(
                session=self.session, user=self.user, width=width, height=height)
        except (ValidationError, PermissionDenied) as exc:
            text = " ".join(getattr(exc, "messages", [str(exc)]))
            self._queue("control", encode_server({"op": "error", "error": f"resize: {text}"}))

    async def _touch(self) -> None:
        now = time.monotonic()
        if now - self.last_touch >= TOUCH_EVERY:
            self.last_touch = now
            await database_sync_to_async(services.desktop_touch)(session=self.session)

    # -- host -> browser ----------------------------------------------------------------------

    def _host_push(self, push: messages.Push) -> None:
        if isinstance(push, messages.Frame) and push.stream == self.audio_stream is not None:
            data = encode_server({"op": "audio", "codec": push.codec, "pts": push.pts}, push.payload)
            if len(self.outbox) >= MAX_OUTBOX_MESSAGES or self.outbox_bytes + len(data) > MAX_OUTBOX_BYTES:
                self.dropped_audio += 1  # late sound is worse than a gap: dropped, not queued
                return
            self._queue("audio", data)
        elif isinstance(push, messages.Frame):
            if push.stream != self.stream or self.stream is None:
                return  # a frame of a stream this viewer just left
            header, payload = push.encode()
            del header["stream"]
            header["format"] = self.format
            data = encode_server(header, payload)
            if len(self.outbox) >= MAX_OUTBOX_MESSAGES or self.outbox_bytes + len(data) > MAX_OUTBOX_BYTES:
                # The browser is behind: drop, release the host's window, resync with a keyframe.
                self.dropped_frames += 1
                self.want_keyframe = True
                if self.host is not None:
                    self.host.send(messages.Ack(stream=self.stream, seq=push.seq))
                return
            self._queue("frame", data, push.seq)
        elif isinstance(push, messages.Pointer):
            self._queue("pointer", encode_server(push.encode()[0]))
        elif isinstance(push, messages.ClipboardChanged) and self.clipboard_ways.from_desktop:
            self._queue("control", encode_server(
                {"op": "clipboard", "selection": push.selection.value, "is_text": push.text is not None},
                push.text.encode() if push.text is not None else b""))
        elif isinstance(push, messages.DownloadsChanged):
            if self.downloads_on:
                self._queue("downloads", downloads_message(self.session.pk, push.files))
        elif isinstance(push, messages.Cursor | messages.Resized):
            self._queue("control", encode_server(*push.encode()))
        elif isinstance(push, messages.Bye):
            self._queue("control", encode_server(push.encode()[0]))
            self._queue("close", b"", None)

    def _queue(self, kind: str, data: bytes, seq: int | None = None) -> None:
        if kind in ("pointer", "downloads"):
            # Only the latest pointer position, and the latest download list, matter.
            for i, (k, old, _) in enumerate(self.outbox):
                if k == kind:
                    self.outbox_bytes -= len(old)
                    del self.outbox[i]
                    break
        self.outbox.append((kind, data, seq))
        self.outbox_bytes += len(data)
        self.wakeup.set()

    def _drop_frames(self) -> None:
        kept = deque(item for item in self.outbox if item[0] != "frame")
        self.outbox = kept
        self.outbox_bytes = sum(len(d) for _, d, _ in kept)

    async def _send_loop(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.outbox:
                kind, data, seq = self.outbox.popleft()
                self.outbox_bytes -= len(data)
                if kind == "close":
                    await self._close(CloseCode.STOPPED, "session ended")
                    return
                frames, sent = metrics.viewer_counters(self.format or "")
                if kind == "frame" and isinstance(seq, int):
                    self.forwarded_seq = max(self.forwarded_seq, seq)
                    frames.inc()
                sent.inc(len(data))
                await self.send(bytes_data=data)

    async def _watch_host(self) -> None:
        assert self.host is not None
        await self.host.closed.wait()
        if self.closing:
            return
        await asyncio.sleep(0.05)  # let a queued bye go out first
        stopped = await database_sync_to_async(_session_stopped)(self.session.pk)
        if stopped:
            await self._close(CloseCode.STOPPED, "session ended")
        else:
            await self._close(CloseCode.HOST_UNREACHABLE, "session host connection lost")

    async def _watch_account(self) -> None:
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        while not self.closing:
            await changes.watcher().wait(self.user.pk)  # a published change; without Redis, a poll
            if self.closing:
                return
            if not await database_sync_to_async(account_still_signed_in)(session_key=key, user_id=self.user.pk):
                log.info("viewer closed %s: the user is signed out, deactivated or has a new password", self.label)
                await self._close(CloseCode.UNAUTHENTICATED, "signed out")
                return
            # The user's policy now: browser access taken away ends the socket, the clipboard's
            # ways follow a change.
            refusal, self.clipboard_ways = await database_sync_to_async(viewer_policy)(user=self.user)
            if refusal is not None:
                log.info("viewer closed %s: %s", self.label, refusal)
                await self._close(CloseCode.FORBIDDEN, refusal)
                return
            await self._downloads(await database_sync_to_async(downloads_allowed)(
                user=self.user, shared=self.share is not None))


def _session_stopped(pk: int) -> bool:
    from webconsole.desktops.models import DesktopSession

    state = DesktopSession.objects.filter(pk=pk).values_list("state", flat=True).first()
    return state != DesktopState.RUNNING
