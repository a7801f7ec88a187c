"""Display Control ([MS-RDPEDISP]) as a dynamic channel: the client asks for a desktop size
and monitor layout.

Once open the server announces its capabilities (up to ``monitors.MAX_MONITORS`` monitors,
8192 x 8192 each). A Monitor Layout becomes ``DisplayLayout``: with several monitors that
``monitors.client_layout`` takes, their bounding box and the monitors shifted onto it; with
one monitor, or a layout it skips (logged), the primary monitor's size, held within the
extension's bounds and the server's maximum. Any other PDU from the client closes the
connection.
"""

from __future__ import annotations

from rdpfront import disp, events, monitors
from rdpfront.channels.base import DynamicChannel
from rdpfront.errors import RemoteProtocolError


class DisplayControlChannel(DynamicChannel):
    name = disp.CHANNEL_NAME

    def opened(self) -> None:
        self.host.write(self.encode(disp.encode_disp(disp.Caps(max_num_monitors=monitors.MAX_MONITORS))))

    def receive(self, message: bytes) -> None:
        pdu = disp.decode_disp(message)
        if not isinstance(pdu, disp.MonitorLayout):
            raise RemoteProtocolError(f"unexpected {type(pdu).__name__} from the client on Display Control")
        config = self.host.accepted.config
        layout = monitors.client_layout(monitors.from_display_control(pdu.monitors), config.max_width,
                                        config.max_height, log_context=self.host.log_context,
                                        source="Display Control layout")
        if layout is not None:
            self.host.emit(events.DisplayLayout(layout.width, layout.height, len(pdu.monitors), layout.monitors))
            return
        width, height = pdu.desktop_size()
        width, height = min(width, config.max_width), min(height, config.max_height)
        self.host.emit(events.DisplayLayout(width, height, len(pdu.monitors)))
