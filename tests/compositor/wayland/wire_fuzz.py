"""A Wayland client that speaks the wire format by hand, to fuzz the compositor's request
handling: it binds every global the compositor offers, then sends requests chosen from each
bound interface's signatures (pywayland's protocol tables) with random and boundary arguments
(new objects registered as they are made, memfds of random sizes where a request takes a file
descriptor), some of them mutated at the byte level, and a sync at the end.

libwayland-server checks each message against its signature and disconnects a client that
breaks it; what passes reaches the compositor's handlers, which must answer a bad request with
a protocol error for that client, never by dying or hanging.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import random
import socket
import struct
from dataclasses import dataclass, field

import pywayland.protocol
from pywayland.protocol_core.argument import ArgumentType

from tests.fuzz.targets import mutate

DISPLAY_ID, REGISTRY_ID = 1, 2
BOUNDARY_INTS = (0, 1, -1, 2**31 - 1, -(2**31), 32767, 32768, 65535, 65536)


def _interfaces() -> dict[str, type]:
    """Every interface pywayland knows, by its protocol name."""
    found: dict[str, type] = {}
    for module in pkgutil.iter_modules(pywayland.protocol.__path__):
        package = importlib.import_module(f"pywayland.protocol.{module.name}")
        for name in dir(package):
            cls = getattr(package, name)
            if isinstance(cls, type) and isinstance(getattr(cls, "name", None), str) and hasattr(cls, "requests"):
                found.setdefault(cls.name, cls)
    return found


INTERFACES = _interfaces()


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _string(value: bytes) -> bytes:
    return struct.pack("<I", len(value) + 1) + _pad(value + b"\0")


@dataclass
class WireClient:
    path: str
    rng: random.Random
    sock: socket.socket = field(init=False)
    objects: dict[int, type] = field(default_factory=dict)  # id -> interface class
    next_id: int = 3
    sent: int = 0  # requests sent
    answered: int = 0  # requests the compositor had handled by the last sync it answered
    fds: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)

    def close(self) -> None:
        self.sock.close()
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    # -- the wire ----------------------------------------------------------------------------

    def send(self, object_id: int, opcode: int, body: bytes, fds: list[int] | None = None) -> None:
        message = struct.pack("<II", object_id, (8 + len(body)) << 16 | opcode) + body
        if fds:
            socket.send_fds(self.sock, [message], fds)
        else:
            self.sock.sendall(message)
        self.sent += 1

    def events(self, until_callback: int) -> list[tuple[int, int, bytes]] | None:
        """Events until ``wl_callback.done`` on ``until_callback``; None if the compositor
        closed the connection (a protocol error, the expected end of most runs)."""
        buf = b""
        out: list[tuple[int, int, bytes]] = []
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not chunk:
                return None
            buf += chunk
            while len(buf) >= 8:
                obj, word = struct.unpack_from("<II", buf)
                size = word >> 16
                if size < 8 or len(buf) < size:
                    break
                out.append((obj, word & 0xFFFF, buf[8:size]))
                buf = buf[size:]
                if obj == until_callback and word & 0xFFFF == 0:
                    return out

    def new_id(self, interface: type | None) -> int:
        ident = self.next_id
        self.next_id += 1
        if interface is not None:
            self.objects[ident] = interface
        return ident

    def sync(self) -> list[tuple[int, int, bytes]] | None:
        before = self.sent
        callback = self.new_id(None)
        self.send(DISPLAY_ID, 0, struct.pack("<I", callback))
        events = self.events(callback)
        if events is not None:
            self.answered = before
        return events

    # -- a session ---------------------------------------------------------------------------

    def bind_globals(self) -> bool:
        self.send(DISPLAY_ID, 1, struct.pack("<I", REGISTRY_ID))  # wl_display.get_registry
        events = self.sync()
        if events is None:
            return False
        for obj, opcode, body in events:
            if obj != REGISTRY_ID or opcode != 0:
                continue
            name, length = struct.unpack_from("<II", body)
            interface = body[8:8 + length - 1].decode()
            (version,) = struct.unpack_from("<I", body, 8 + len(_pad(body[8:8 + length])))
            cls = INTERFACES.get(interface)
            if cls is None:
                continue
            ident = self.new_id(cls)
            self.send(REGISTRY_ID, 0, struct.pack("<I", name) + _string(interface.encode())
                      + struct.pack("<II", version, ident))
        return True

    def random_request(self) -> None:
        rng = self.rng
        object_id = rng.choice(list(self.objects))
        interface = self.objects[object_id]
        requests = interface.requests
        opcode = rng.randrange(len(requests)) if requests and rng.randrange(20) else rng.randrange(40)
        body, fds = b"", []
        if opcode < len(requests):
            if requests[opcode].name in ("destroy", "release"):
                del self.objects[object_id]
            for argument in requests[opcode].arguments:
                part, fd = self._argument(argument)
                body += part
                if fd is not None:
                    fds.append(fd)
        if rng.randrange(16) == 0:
            body = mutate(rng, body)
        self.send(object_id, opcode, _pad(body)[:4096], fds)

    def _argument(self, argument) -> tuple[bytes, int | None]:
        rng = self.rng
        kind = argument.argument_type
        if kind in (ArgumentType.Int, ArgumentType.Uint, ArgumentType.Fixed):
            value = rng.choice(BOUNDARY_INTS) if rng.randrange(2) else rng.randrange(-(2**31), 2**31)
            return struct.pack("<i", value), None
        if kind == ArgumentType.String:
            text = rng.choice([b"", b"x", b"wrd", b"\xff\xfe", bytes(rng.randrange(1, 256) for _ in range(300)),
                               b"text/plain;charset=utf-8"])
            return (struct.pack("<I", 0) if argument.nullable and rng.randrange(4) == 0 else _string(text)), None
        if kind == ArgumentType.Object:
            fitting = [i for i, cls in self.objects.items() if argument.interface is None or cls is argument.interface]
            choice = rng.randrange(10)
            if choice < 7 and fitting:
                ident = rng.choice(fitting)
            elif choice < 8:
                ident = 0
            else:
                ident = rng.choice(list(self.objects)) if choice < 9 else rng.randrange(1, 10_000)
            return struct.pack("<I", ident), None
        if kind == ArgumentType.NewId:
            if argument.interface is None:  # untyped (wl_registry.bind): interface and version first
                cls = rng.choice(list(INTERFACES.values()))
                return _string(cls.name.encode()) + struct.pack("<II", rng.randrange(1, 8), self.new_id(cls)), None
            return struct.pack("<I", self.new_id(argument.interface)), None
        if kind == ArgumentType.Array:
            data = rng.randbytes(rng.randrange(0, 64))
            return struct.pack("<I", len(data)) + _pad(data), None
        if kind == ArgumentType.FileDescriptor:
            fd = os.memfd_create("wrd-fuzz")
            os.ftruncate(fd, rng.choice((0, 1, 4096, 1 << 20)))
            self.fds.append(fd)
            return b"", fd
        return b"", None
