"""Text copied on either side, relayed between the client's clipboard (CLIPRDR) and the
session's CLIPBOARD selection, sans-IO (images and files: ``clipboard_transfer.py``).

Client to session: the client's Format List offering text is answered with a request for it;
the text that comes back becomes the host's ``ClipboardSet``. Session to client: the host's
``clipboard`` push for the CLIPBOARD selection becomes a Format List with the text kept to
answer the client's request (the PRIMARY selection stays in the session).
"""

from __future__ import annotations

from compositor import messages
from rdpfront import events as ev
from rdpfront.cliprdr import CHANNEL_NAME
from rdpfront.connection import ServerConnection


class ClipboardRelay:
    """``to_desktop`` / ``from_desktop`` (the user's policy) turn a direction off: the client's
    offers are then not asked for and its data not passed on, or the session's changes not
    offered to the client (which then has nothing to ask for)."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.to_desktop = True
        self.from_desktop = True

    def client_offer(self, event: ev.ClipboardOffer) -> bytes:
        """The client's clipboard changed: ask for its text, if it has any."""
        return self.conn.clipboard_request_text() if event.has_text and self.to_desktop else b""

    def client_text(self, event: ev.ClipboardText) -> list[messages.Request]:
        """The client's text, for the session (nothing when the client could not give it)."""
        if not self.to_desktop:
            return []
        return [messages.ClipboardSet(text=event.text)] if event.text is not None else []

    def host_changed(self, push: messages.ClipboardChanged) -> bytes:
        """A program in the session took the clipboard: offer its text to the client."""
        conn = self.conn
        if not self.from_desktop:
            return b""
        if push.selection == messages.Selection.CLIPBOARD and conn.active and conn.clipboard_available:
            if not push.formats:
                return conn.clipboard_set_text(push.text)
            # Files are offered as files only, as Windows offers a copy from Explorer: the
            # session's paths as text mean nothing on the client, and a client that takes text
            # whenever it is offered (aardwolf) would never ask for the files.
            files = messages.CLIPBOARD_FILES in push.formats
            return conn.channel(CHANNEL_NAME).set_offer(  # images and files: clipboard_transfer.py
                None if files else push.text, image=messages.CLIPBOARD_IMAGE in push.formats, files=files)
        return b""
