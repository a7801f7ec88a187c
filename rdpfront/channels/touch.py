"""Multi-touch input ([MS-RDPEI]) as a dynamic channel: the client's contacts become the
session host's ``touch`` / ``touch_frame`` input events.

Once open the server sends SC_READY (protocol 2.0.0); the client answers CS_READY and sends
TOUCH_EVENT PDUs. Each touch frame becomes the host events of its contacts followed by a
``touch_frame``, and one TOUCH_EVENT one ``TouchInput`` event (one host input request).

Contact ids (0..255 on the wire) are mapped to the host's slots 0..9 while they are down
(``ContactSlots``): a DOWN when all ten slots are taken is refused with a log line and the
rest of that contact is ignored; UPDATE/UP of a contact that is not down are ignored; a
contact CANCELED cancels the sequence (Wayland cancels all contacts at once). Hovering contacts
(in range, not in contact) are not touches and are ignored, as is DISMISS_HOVERING_CONTACT.
A malformed PDU, or one the client never sends, closes the connection (``RemoteProtocolError``).
"""

from __future__ import annotations

import logging

from compositor import messages
from rdpfront import events, rdpei
from rdpfront.channels.base import DynamicChannel
from rdpfront.errors import RemoteProtocolError

log = logging.getLogger(__name__)

Flags = rdpei.ContactFlags


class ContactSlots:
    """Maps a client's contact ids to the host's touch slots 0..MAX_TOUCH_CONTACTS-1, sans-IO."""

    def __init__(self, log_context: str = "") -> None:
        self.slots: dict[int, int] = {}  # client contact id -> slot
        self.refused = 0
        self._log = log_context

    def frame(self, frame: rdpei.TouchFrame) -> list[messages.InputEvent]:
        """The host events of one touch frame, ending with ``touch_frame`` (none if nothing in
        it concerns a contact that is down)."""
        out: list[messages.InputEvent] = []
        for contact in frame.contacts:
            out += self._contact(contact)
        if out:
            out.append(messages.TouchFrameEvent())
        return out

    def _contact(self, c: rdpei.Contact) -> list[messages.InputEvent]:
        flags = Flags(c.flags & 0x3F)
        x = max(0, min(c.x, messages.MAX_COORDINATE))
        y = max(0, min(c.y, messages.MAX_COORDINATE))
        if flags & Flags.CANCELED:
            if not self.slots:
                return []
            self.slots.clear()
            return [messages.TouchEvent(messages.TouchPhase.CANCEL, 0)]
        if flags & Flags.DOWN:
            if c.contact_id in self.slots:
                log.info("%s touch down for contact %d already down: ignored", self._log, c.contact_id)
                return []
            free = sorted(set(range(messages.MAX_TOUCH_CONTACTS)) - set(self.slots.values()))
            if not free:
                self.refused += 1
                log.warning("%s touch contact %d refused: %d contacts are down already", self._log,
                            c.contact_id, messages.MAX_TOUCH_CONTACTS)
                return []
            self.slots[c.contact_id] = free[0]
            return [messages.TouchEvent(messages.TouchPhase.DOWN, free[0], x, y)]
        slot = self.slots.get(c.contact_id)
        if slot is None:
            return []  # a hovering contact, or one refused or never down
        if flags & Flags.UP:
            del self.slots[c.contact_id]
            return [messages.TouchEvent(messages.TouchPhase.UP, slot, x, y)]
        if flags & Flags.UPDATE and flags & Flags.INCONTACT:
            return [messages.TouchEvent(messages.TouchPhase.MOTION, slot, x, y)]
        return []

    def release_all(self) -> list[messages.InputEvent]:
        """Events that end every contact still down (the channel closed or input suspended)."""
        if not self.slots:
            return []
        self.slots.clear()
        return [messages.TouchEvent(messages.TouchPhase.CANCEL, 0), messages.TouchFrameEvent()]


class TouchInputChannel(DynamicChannel):
    name = rdpei.CHANNEL_NAME

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.ready: rdpei.CsReady | None = None
        self.contacts = ContactSlots(self.host.log_context)

    def opened(self) -> None:
        self.host.write(self.encode(rdpei.encode_rdpei(rdpei.ScReady(rdpei.PROTOCOL_V200))))

    def receive(self, message: bytes) -> None:
        pdu = rdpei.decode_rdpei(message)
        if isinstance(pdu, rdpei.CsReady):
            self.ready = pdu
            log.info("%s touch input ready version=%#x max_contacts=%d", self.host.log_context,
                     pdu.protocol_version, pdu.max_touch_contacts)
        elif isinstance(pdu, rdpei.TouchEvent):
            out: list[messages.InputEvent] = []
            for frame in pdu.frames:
                out += self.contacts.frame(frame)
            if out:
                self.host.emit(events.TouchInput(tuple(out)))
        elif isinstance(pdu, rdpei.DismissHoveringContact):
            pass  # hovering contacts are never passed on
        else:
            raise RemoteProtocolError(f"unexpected {type(pdu).__name__} from the client on {self.name}")

    def closed(self) -> None:
        out = self.contacts.release_all()
        if out:
            self.host.emit(events.TouchInput(tuple(out)))
