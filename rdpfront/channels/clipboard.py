"""CLIPRDR on the static channel "cliprdr" ([MS-RDPECLIP]): text both ways.

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

    @property
    def available(self) -> bool:
        return self.client_caps_seen

    def start(self) -> None:
        self.host.write(self._send(cliprdr.ClipCaps()) + self._send(cliprdr.MonitorReady()))

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
            self.host.emit(events.ClipboardOffer(has_text, ids))
        elif isinstance(pdu, cliprdr.FormatDataRequest):
            if pdu.format_id == cliprdr.CF_UNICODETEXT and self.our_text is not None:
                self.host.write(self._send(cliprdr.FormatDataResponse.unicode_text(self.our_text)))
            else:
                self.host.write(self._send(cliprdr.FormatDataResponse(b"", ok=False)))
        elif isinstance(pdu, cliprdr.FormatDataResponse):
            text = pdu.text() if pdu.ok else None
            # Only a successful empty answer: FreeRDP fails a request it cannot serve yet and
            # announces again once it can, which must be asked for.
            self._answered_empty = self._requested if text == "" else None
            self.host.emit(events.ClipboardText(text))

    def set_text(self, text: str | None) -> bytes:
        """Tell the client the session's clipboard now holds ``text`` (None: nothing we offer)."""
        self.our_text = text
        formats = (cliprdr.Format(cliprdr.CF_UNICODETEXT),) if text is not None else ()
        return self._send(cliprdr.FormatList(formats, self.long_names))

    def request_text(self) -> bytes:
        """Ask the client for its clipboard text; a ``ClipboardText`` event answers."""
        return self._send(cliprdr.FormatDataRequest(cliprdr.CF_UNICODETEXT))

    def _send(self, pdu: cliprdr.ClipboardPdu) -> bytes:
        log.debug("%s cliprdr -> %s", self.host.log_context, pdu)
        return self.encode(cliprdr.encode_clipboard(pdu))
