"""CLIPRDR on the static channel "cliprdr" ([MS-RDPECLIP]): text, images and files both ways.

Text is answered here at once. Images (CF_DIB, CF_DIBV5, a registered "PNG") and files
(the registered FileGroupDescriptorW format and File Contents requests) need the session:
they are raised as events (``ClipboardDataRequested``, ``ClipboardFileContentsRequested``,
``ClipboardData``, ``ClipboardFileContents``) for ``rdpfront/clipboard_transfer.py``, which
answers through ``respond_data``, ``respond_file_contents``, ``request_data`` and
``request_file_contents`` (docs/clipboard.md).

Once active the server sends Clipboard Capabilities (long format names) and Monitor Ready.
The client's Format List is answered and raised as ``ClipboardOffer``; ``request_text()``
asks for its text (``ClipboardText`` answers). ``set_text()`` offers the session's text as
CF_UNICODETEXT and keeps it for the client's Format Data Request; other formats fail.

Format names are short (32 bytes) until the client's own capabilities say long
([MS-RDPECLIP 1.3.2.1]: its Clipboard Capabilities PDU is optional; rdesktop 1.9 sends none).
A client that answers a request successfully but with no text may announce the same formats
again at once (rdesktop does, after its X selection conversion fails): that one repeat is
acknowledged but not raised, so the server does not ask again, and ask again, thousands of
times a second.
"""

from __future__ import annotations

import logging

from compositor.messages import MAX_CLIPBOARD_BYTES
from rdpfront import cliprdr, events
from rdpfront.channels.base import StaticChannel

log = logging.getLogger(__name__)


# The id under which the server announces FileGroupDescriptorW (a registered format: any id
# from 0xC000 the announcer picks; the client asks by this id).
FILE_LIST_ID = 0xC0FE


class ClipboardChannel(StaticChannel):
    name = cliprdr.CHANNEL_NAME
    # The session's clipboard limit as CF_UNICODETEXT: two bytes per UTF-16 unit (never more
    # units than UTF-8 bytes), its terminator and the PDU header.
    max_message = 2 * MAX_CLIPBOARD_BYTES + 64

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.long_names = False
        self.our_text: str | None = None
        self.client_caps_seen = False
        self._requested: tuple[int, ...] | None = None  # formats of the offer last asked for
        self._answered_empty: tuple[int, ...] | None = None  # ... when its answer was empty
        self.offered: tuple[int, ...] = ()  # the formats the server's last Format List offered
        # One Format Data Request at a time: a response does not say which format it answers,
        # and FreeRDP answers only the last of two requests it holds at once. A request made
        # while one is out waits here (the latest only) until the response comes.
        self._asked_format: int | None = None  # the format of the server's pending data request
        self._queued_format: int | None = None

    @property
    def available(self) -> bool:
        return self.client_caps_seen

    def start(self) -> None:
        flags = (cliprdr.GeneralFlags.CB_USE_LONG_FORMAT_NAMES | cliprdr.GeneralFlags.CB_STREAM_FILECLIP_ENABLED
                 | cliprdr.GeneralFlags.CB_FILECLIP_NO_FILE_PATHS | cliprdr.GeneralFlags.CB_HUGE_FILE_SUPPORT_ENABLED)
        self.host.write(self._send(cliprdr.ClipCaps(flags)) + self._send(cliprdr.MonitorReady()))

    def receive(self, message: bytes) -> None:
        pdu = cliprdr.decode_clipboard(message, long_names=self.long_names)
        log.debug("%s cliprdr <- %s", self.host.log_context, pdu)
        if isinstance(pdu, cliprdr.ClipCaps):
            self.long_names = bool(pdu.general_flags & cliprdr.GeneralFlags.CB_USE_LONG_FORMAT_NAMES)
            self.client_caps_seen = True
        elif isinstance(pdu, cliprdr.FormatList):
            self.host.write(self._send(cliprdr.FormatListResponse(True)))
            ids = tuple(f.format_id for f in pdu.formats)
            if ids == self._answered_empty:
                self._answered_empty = None
                log.debug("%s cliprdr: the same formats again after an empty answer; not asked again",
                          self.host.log_context)
                return
            self._answered_empty = None
            self._requested = ids
            has_text = cliprdr.CF_UNICODETEXT in ids or cliprdr.CF_TEXT in ids
            names = tuple(f.name for f in pdu.formats)
            self.host.emit(events.ClipboardOffer(has_text, ids, names if any(names) else ()))
        elif isinstance(pdu, cliprdr.FormatDataRequest):
            if pdu.format_id == cliprdr.CF_UNICODETEXT and self.our_text is not None:
                self.host.write(self._send(cliprdr.FormatDataResponse.unicode_text(self.our_text)))
            elif pdu.format_id in self.offered and pdu.format_id != cliprdr.CF_UNICODETEXT:
                self.host.emit(events.ClipboardDataRequested(pdu.format_id))
            else:
                self.host.write(self._send(cliprdr.FormatDataResponse(b"", ok=False)))
        elif isinstance(pdu, cliprdr.FileContentsRequest):
            self.host.emit(events.ClipboardFileContentsRequested(pdu))
        elif isinstance(pdu, cliprdr.FileContentsResponse):
            self.host.emit(events.ClipboardFileContents(pdu.stream_id, pdu.ok, pdu.data))
        elif isinstance(pdu, cliprdr.FormatDataResponse):
            fmt, self._asked_format = self._asked_format, None
            if fmt is None or fmt in (cliprdr.CF_UNICODETEXT, cliprdr.CF_TEXT):
                self._text_answered(pdu)
            else:
                self.host.emit(events.ClipboardData(fmt, pdu.data if pdu.ok else None))
            if self._queued_format is not None:
                queued, self._queued_format = self._queued_format, None
                self.host.write(self._request(queued))

    def _text_answered(self, pdu: cliprdr.FormatDataResponse) -> None:
        text = pdu.text() if pdu.ok else None
        # Only a successful empty answer: FreeRDP fails a request it cannot serve yet and
        # announces again once it can, which must be asked for.
        self._answered_empty = self._requested if text == "" else None
        self.host.emit(events.ClipboardText(text))

    def set_text(self, text: str | None) -> bytes:
        """Tell the client the session's clipboard now holds ``text`` (None: nothing we offer)."""
        return self.set_offer(text)

    def set_offer(self, text: str | None, *, image: bool = False, files: bool = False) -> bytes:
        """Tell the client what the session's clipboard holds: ``text``, an image (offered as
        CF_DIB and CF_DIBV5), files (FileGroupDescriptorW)."""
        self.our_text = text
        formats = []
        if text is not None:
            formats.append(cliprdr.Format(cliprdr.CF_UNICODETEXT))
        if image:
            formats += [cliprdr.Format(cliprdr.CF_DIBV5), cliprdr.Format(cliprdr.CF_DIB)]
        if files:
            formats.append(cliprdr.Format(FILE_LIST_ID, cliprdr.FILE_GROUP_DESCRIPTOR_W))
        if not self.long_names:  # a short name is 32 bytes of UTF-16: the format's name fits
            formats = [f for f in formats if len(f.name) <= 15]
        self.offered = tuple(f.format_id for f in formats)
        return self._send(cliprdr.FormatList(tuple(formats), self.long_names))

    def request_text(self) -> bytes:
        """Ask the client for its clipboard text; a ``ClipboardText`` event answers."""
        return self._request(cliprdr.CF_UNICODETEXT)

    def request_data(self, format_id: int) -> bytes:
        """Ask the client for its clipboard's ``format_id``; a ``ClipboardData`` event answers."""
        return self._request(format_id)

    def request_abandoned(self) -> bytes:
        """The pending request will not be answered (its asker gave up): the queued one goes."""
        self._asked_format = None
        queued, self._queued_format = self._queued_format, None
        return self._request(queued) if queued is not None else b""

    def _request(self, format_id: int) -> bytes:
        if self._asked_format is not None:
            self._queued_format = format_id
            return b""
        self._asked_format = format_id
        return self._send(cliprdr.FormatDataRequest(format_id))

    def respond_data(self, data: bytes | None) -> bytes:
        """Answer the client's pending ``ClipboardDataRequested`` (None: a failure)."""
        return self._send(cliprdr.FormatDataResponse(data or b"", ok=data is not None))

    def request_file_contents(self, request: cliprdr.FileContentsRequest) -> bytes:
        return self._send(request)

    def respond_file_contents(self, stream_id: int, data: bytes | None) -> bytes:
        return self._send(cliprdr.FileContentsResponse(stream_id, data or b"", ok=data is not None))

    def _send(self, pdu: cliprdr.ClipboardPdu) -> bytes:
        log.debug("%s cliprdr -> %s", self.host.log_context, pdu)
        return self.encode(cliprdr.encode_clipboard(pdu))
