"""A small client side of the RDP handshake, built from rdpfront's own PDUs, so both ends
run in memory (h11 ``ConnectionPair``, aioquic ``client_and_server``)."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field, replace

from rdpfront import cliprdr, disp, dvc, events, gfx, mcs, rdpdr, rdpei, rdpsnd, x224
from rdpfront.channels.clipboard import ClipboardChannel
from rdpfront.channels.registry import DISP_CHANNEL_ID, GFX_CHANNEL_ID, INPUT_CHANNEL_ID, PLAYBACK_CHANNEL_ID
from rdpfront.connection import ServerConnection
from rdpfront.cursor import Reader, encode
from rdpfront.fastpath import FastPathOutput, Reassembler
from rdpfront.gcc import (
    ChannelDef,
    ClientCoreData,
    ClientGccBlocks,
    ClientNetworkData,
    ClientSecurityData,
    ConferenceCreateRequest,
    ConferenceCreateResponse,
    ServerGccBlocks,
)
from rdpfront.input import FastPathInput, InputEvent
from rdpfront.rdp import capability_sets as caps
from rdpfront.rdp.client_info import ClientInfo, ExtendedInfo, InfoFlags
from rdpfront.rdp.headers import BasicSecurityHeader, SecurityFlags
from rdpfront.rdp.pdus import (
    ConfirmActive,
    Control,
    ControlAction,
    DemandActive,
    FlowPdu,
    FontList,
    ShareControlPdu,
    ShareDataPdu,
    Synchronize,
)
from rdpfront.svc import ChannelPdu, ChannelReassembler, chunk_message
from rdpfront.tpkt import Action, Framer
from rdpfront.wire import IO_CHANNEL_ID
from rdpfront.zgfx import Decompressor

CLIENT_CORE = ClientCoreData(
    desktop_width=800, desktop_height=600, client_name="testclient", keyboard_layout=0x409,
    post_beta2_color_depth=0xCA01, client_product_id=1, serial_number=0, high_color_depth=24,
    supported_color_depths=0xF, early_capability_flags=0x0003, client_dig_product_id="",
    connection_type=0, pad1octet=0, server_selected_protocol=1)


def credentials_event(username: str = "alice", password: str = "secret", size: tuple[int, int] = (800, 600),
                      layout: int = 0x409) -> events.Credentials:
    """The event of a Client Info PDU with these credentials, desktop size and keyboard layout."""
    return events.Credentials(username, password, "", *size, client=replace(CLIENT_CORE, keyboard_layout=layout),
                              info=ClientInfo(InfoFlags.INFO_UNICODE, "", username, password))


def client_confirm_caps(*, fastpath: bool = True, max_request_size: int = 0x3F0000) -> tuple[caps.Capability, ...]:
    return (
        caps.GeneralCapability(1, 3, caps.GeneralExtraFlags.FASTPATH_OUTPUT_SUPPORTED if fastpath else 0, True, True),
        caps.BitmapCapability(32, 800, 600, True),
        caps.OrderCapability(),
        caps.PointerCapability(25, 25),
        caps.InputCapability(caps.InputFlags.INPUT_FLAG_SCANCODES | caps.InputFlags.INPUT_FLAG_UNICODE),
        caps.VirtualChannelCapability(0, 1600),
        caps.MultifragmentUpdateCapability(max_request_size),
        caps.LargePointerCapability(1),
        caps.RawCapability(caps.CapabilityType.SOUND, b"\x00\x00\x00\x00"),
    )


@dataclass
class MemoryClient:
    """Drives a ServerConnection through the connection sequence and decodes what it sends."""

    server: ServerConnection = field(default_factory=ServerConnection)
    user_id: int = 0
    channel_ids: dict[str, int] = field(default_factory=dict)
    received: list = field(default_factory=list)
    fastpath: bool = True
    _framer: Framer = field(default_factory=Framer)
    _reassembler: Reassembler = field(default_factory=Reassembler)
    _clip: ChannelReassembler = field(default_factory=lambda: ChannelReassembler(ClipboardChannel.max_message))
    _sound: ChannelReassembler = field(default_factory=lambda: ChannelReassembler(1 << 16))
    _drdynvc: ChannelReassembler = field(default_factory=ChannelReassembler)
    _rdpdr: ChannelReassembler = field(default_factory=lambda: ChannelReassembler(1 << 21))
    _clip_caps_sent: bool = False
    # the client's RDP 8.0 bulk decompression history for the graphics channel
    zgfx: Decompressor = field(default_factory=Decompressor)

    def send(self, data: bytes) -> None:
        self.server.receive_data(data)

    def send_mcs(self, pdu: object) -> None:
        self.send(x224.data_frame(encode(pdu)))  # type: ignore[arg-type]

    def send_io(self, payload: bytes, channel: int = IO_CHANNEL_ID) -> None:
        self.send_mcs(mcs.SendDataRequest(self.user_id, channel, payload))

    def send_share_data(self, body: object) -> None:
        self.send_io(encode(ShareControlPdu(self.user_id, ShareDataPdu(0x103EA, body))))  # type: ignore[arg-type]

    def send_input(self, *events: InputEvent) -> None:
        self.send(encode(FastPathInput(tuple(events))))

    def send_clipboard(self, pdu: cliprdr.ClipboardPdu) -> None:
        for chunk in chunk_message(cliprdr.encode_clipboard(pdu)):
            self.send_io(chunk, self.channel_ids["cliprdr"])

    def send_rdpdr(self, pdu: rdpdr.RdpdrPdu | bytes) -> None:
        data = pdu if isinstance(pdu, bytes) else pdu.to_bytes()
        for chunk in chunk_message(data):
            self.send_io(chunk, self.channel_ids["rdpdr"])

    def send_dvc(self, pdu: dvc.DvcPdu | bytes) -> None:
        data = pdu if isinstance(pdu, bytes) else dvc.encode_dvc(pdu)
        for chunk in chunk_message(data):
            self.send_io(chunk, self.channel_ids["drdynvc"])

    def pump(self, data: bytes | None = None) -> list:
        """Decode the server's bytes into PDUs (appended to ``received``); return the new ones."""
        data = self.server.data_to_send() if data is None else data
        new = []
        for action, frame in self._frames(data):
            if action == Action.FASTPATH:
                for update in FastPathOutput.decode(Reader(frame)).updates:
                    whole = self._reassembler.push(update)
                    if whole is not None:
                        new.append(("fastpath", whole[0], whole[1]))
                continue
            if frame[5] == 0xD0:
                new.append(x224.ConnectionConfirm.decode(Reader(frame)))
                continue
            pdu = mcs.decode_domain_pdu(Reader(x224.data_payload(frame))) if frame[7] != 0x7F else None
            if pdu is None:
                new.append(mcs.ConnectResponse.decode(Reader(x224.data_payload(frame))))
            elif isinstance(pdu, mcs.SendDataIndication):
                new.append(self._decode_indication(pdu))
            else:
                new.append(pdu)
        self.received += new
        return new

    def _frames(self, data: bytes):
        """The frames in ``data``, fed as a socket would deliver it (the framer buffers at most
        one frame's worth)."""
        for at in range(0, len(data), 1 << 16):
            self._framer.feed(data[at:at + (1 << 16)])
            yield from self._framer.frames()

    def _decode_indication(self, pdu: mcs.SendDataIndication) -> object:
        if pdu.channel_id == self.channel_ids.get("drdynvc"):
            message = self._drdynvc.push(ChannelPdu.decode(Reader(pdu.data)))
            return dvc.decode_dvc(message, from_server=True) if message is not None else None
        if pdu.channel_id == self.channel_ids.get("rdpsnd"):
            message = self._sound.push(ChannelPdu.decode(Reader(pdu.data)))
            return rdpsnd.decode(message) if message is not None else None
        if pdu.channel_id == self.channel_ids.get("rdpdr"):
            message = self._rdpdr.push(ChannelPdu.decode(Reader(pdu.data)))
            return rdpdr.decode_server(message) if message is not None else None
        if pdu.channel_id != IO_CHANNEL_ID:
            message = self._clip.push(ChannelPdu.decode(Reader(pdu.data)))
            return cliprdr.decode_clipboard(message) if message is not None else None
        if pdu.data[:2] in (b"\x80\x00",):  # licensing: basic security header SEC_LICENSE_PKT
            return ("licence", pdu.data[4:])
        decoded = ShareControlPdu.decode(Reader(pdu.data))
        assert not isinstance(decoded, FlowPdu)
        return decoded.body.body if isinstance(decoded.body, ShareDataPdu) else decoded.body

    def connect(self, *, username: str = "alice", password: str = "secret",
                requested: x224.SecurityProtocol = x224.SecurityProtocol.SSL | x224.SecurityProtocol.HYBRID,
                channels: tuple[str, ...] = ("cliprdr", "rdpsnd"), accept: bool = True,
                security_flags: SecurityFlags = SecurityFlags.SEC_INFO_PKT, early_flags: int = 0,
                client_data: bytes | None = None, info_flags: int = 0, extended: ExtendedInfo | None = None) -> None:
        """Run the sequence up to the Credentials event (and on to active if ``accept``).
        ``client_data`` replaces the GCC client data blocks (its network block must name
        ``channels``)."""
        self.send(encode(x224.ConnectionRequest(b"Cookie: mstshash=" + username.encode(),
                                                x224.NegotiationRequest(requested))))
        self.pump()
        self._security_upgrade()
        core = replace(CLIENT_CORE, early_capability_flags=CLIENT_CORE.early_capability_flags | early_flags)
        blocks = ClientGccBlocks(core, ClientSecurityData(),
                                 ClientNetworkData(tuple(ChannelDef(n, 0xC0000000) for n in channels)))
        gcc = encode(ConferenceCreateRequest(encode(blocks) if client_data is None else client_data))
        self.send(x224.data_frame(encode(mcs.ConnectInitial(gcc))))
        (response,) = self.pump()
        server_blocks = ServerGccBlocks.decode_bytes(
            ConferenceCreateResponse.decode(Reader(response.user_data)).user_data)
        self.channel_ids = dict(zip(channels, server_blocks.network.channel_ids, strict=True))
        self.send_mcs(mcs.ErectDomainRequest())
        self.send_mcs(mcs.AttachUserRequest())
        (confirm,) = self.pump()
        self.user_id = confirm.initiator
        for cid in (self.user_id, server_blocks.network.io_channel, *server_blocks.network.channel_ids):
            self.send_mcs(mcs.ChannelJoinRequest(self.user_id, cid))
            (joined,) = self.pump()
            assert joined.result == 0 and joined.channel_id == cid
        info = ClientInfo(InfoFlags.INFO_UNICODE | InfoFlags.INFO_MOUSE | InfoFlags.INFO_AUTOLOGON | info_flags,
                          "", username, password, code_page=0, extended=extended)
        self.send_io(encode(BasicSecurityHeader(security_flags)) + encode(info))
        if accept:
            self._accept_credentials()
            self.finish()

    def _security_upgrade(self) -> None:
        self.server.security_upgrade_done()

    def _accept_credentials(self) -> None:
        self.server.accept_credentials()

    def finish(self, demand: DemandActive | None = None,
               capabilities: tuple[caps.Capability, ...] | None = None) -> None:
        """Answer the Demand Active (the last PDU received unless given) and finalize."""
        if demand is None:
            demand = self.pump()[-1]
        if capabilities is None:
            capabilities = client_confirm_caps(fastpath=self.fastpath)
        self.send_io(encode(ShareControlPdu(self.user_id, ConfirmActive(demand.share_id, capabilities))))
        self.send_share_data(Synchronize(0x3EA))
        self.send_share_data(Control(ControlAction.COOPERATE))
        self.send_share_data(Control(ControlAction.REQUEST_CONTROL))
        self.send_share_data(FontList())
        self.pump()
        if "cliprdr" in self.channel_ids and not self._clip_caps_sent:
            self._clip_caps_sent = True
            self.send_clipboard(cliprdr.ClipCaps())


class SocketClient(MemoryClient):
    """The same client over a real TCP connection and TLS, against a running ``RdpServer``.
    Blocking: run it in a thread when the server shares the caller's event loop."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", receive_buffer: int | None = None,
                 timeout: float = 15.0, source: str | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source is not None:  # another loopback address (all of 127/8 is loopback)
            raw.bind((source, 0))
        if receive_buffer is not None:  # before connect, so the TCP window starts small
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        raw.settimeout(timeout)
        raw.connect((host, port))
        self.sock: socket.socket = raw
        self.local_port = raw.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def pump(self, data: bytes | None = None) -> list:
        """Read until at least one whole PDU has come and the server has been quiet a moment."""
        if data is not None:
            return super().pump(data)
        new: list = []
        deadline = time.monotonic() + self.timeout
        while True:
            settled = bool(new) and not self._framer.buffered()
            self.sock.settimeout(0.2 if settled else max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                if settled:
                    return new
                raise AssertionError(f"the server sent no whole PDU within {self.timeout:g} s") from None
            if not chunk:
                if settled:
                    return new
                raise ConnectionError("the server closed the connection")
            new += super().pump(chunk)

    def _security_upgrade(self) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def _accept_credentials(self) -> None:
        pass  # the server decides

    def close(self) -> None:
        self.sock.close()


def recording_client() -> tuple[MemoryClient, list[bytes]]:
    """A client whose every chunk of bytes to the server is also kept, in order (to replay a
    real connection into another server)."""
    recorded: list[bytes] = []
    client = MemoryClient()
    original = client.server.receive_data

    def record(data: bytes) -> None:
        recorded.append(data)
        original(data)

    client.server.receive_data = record  # type: ignore[method-assign]
    return client, recorded


def connected(**kwargs) -> MemoryClient:
    """A client taken through the connection sequence (``MemoryClient.connect`` keywords, and ``fastpath``)."""
    client = MemoryClient(**{k: v for k, v in kwargs.items() if k == "fastpath"})
    client.connect(**{k: v for k, v in kwargs.items() if k != "fastpath"})
    return client


GFX_FLAG = 0x0100  # RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL
FREERDP_CAPS = (gfx.CapSet(gfx.CapVersion.V8, b"\x00" * 4),
                gfx.CapSet(gfx.CapVersion.V81, (0x10).to_bytes(4, "little")),
                gfx.CapSet(gfx.CapVersion.V101, b"\x00" * 16),
                gfx.CapSet(gfx.CapVersion.V104, (0x20).to_bytes(4, "little")))


def graphics_open(capsets: tuple[gfx.CapSet, ...] = FREERDP_CAPS) -> MemoryClient:
    """An active client that opened the graphics channel and advertised ``capsets``."""
    client = connected(channels=("cliprdr", "drdynvc"), early_flags=GFX_FLAG)
    client.send_dvc(dvc.CapsResponse(3))
    assert client.pump() == [dvc.CreateRequest(DISP_CHANNEL_ID, disp.CHANNEL_NAME),
                             dvc.CreateRequest(GFX_CHANNEL_ID, gfx.CHANNEL_NAME),
                             dvc.CreateRequest(INPUT_CHANNEL_ID, rdpei.CHANNEL_NAME),
                             dvc.CreateRequest(PLAYBACK_CHANNEL_ID, rdpsnd.DVC_NAME)]
    client.send_dvc(dvc.CreateResponse(GFX_CHANNEL_ID, 0))
    client.server.events()
    for piece in dvc.split_message(GFX_CHANNEL_ID, gfx.encode_client(gfx.CapsAdvertise(capsets))):
        client.send_dvc(piece)
    return client


def gfx_pdus(client: MemoryClient, pdus: list) -> list[gfx.ServerPdu]:
    """The graphics pipeline's messages among the PDUs a client received."""
    data = b"".join(p.data for p in pdus if isinstance(p, dvc.Data | dvc.DataFirst))
    return gfx.split_server(gfx.unsegment(data, client.zgfx))
