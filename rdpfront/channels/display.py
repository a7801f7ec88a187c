"""Display Control ([MS-RDPEDISP]) as a dynamic channel: the client asks for a desktop size.

Once open the server announces its capabilities (1 monitor, 8192 x 8192). A Monitor Layout
becomes ``DisplayLayout``: the primary monitor's size, held within the extension's bounds and
the server's maximum. Any other PDU from the client closes the connection.
"""

from __future__ import annotations

from rdpfront import disp, events
from rdpfront.channels.base import DynamicChannel
from rdpfront.errors import RemoteProtocolError


class DisplayControlChannel(DynamicChannel):
    name = disp.CHANNEL_NAME

    def opened(self) -> None:
        self.host.write(self.encode(disp.encode_disp(disp.Caps())))

    def receive(self, message: bytes) -> None:
        pdu = disp.decode_disp(message)
        if not isinstance(pdu, disp.MonitorLayout):
            raise RemoteProtocolError(f"unexpected {type(pdu).__name__} from the client on Display Control")
        config = self.host.accepted.config
        width, height = pdu.desktop_size()
        width, height = min(width, config.max_width), min(height, config.max_height)
        self.host.emit(events.DisplayLayout(width, height, len(pdu.monitors)))
