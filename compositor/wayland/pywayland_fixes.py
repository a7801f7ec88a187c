"""Server-side fixes for pywayland 0.4.19 (pinned in requirements.txt).

pywayland's server half is broken as shipped. ``apply()`` patches it in place,
once, before any global is created:

1. ``wl_resource_set_dispatcher`` got NULL as the *implementation*, which is the
   pointer libwayland hands the dispatcher as its first argument: every request
   crashed in ``ffi.from_handle(NULL)``. We pass the resource's handle there.
2. Request arguments were decoded as if client side (objects looked up in the
   proxy registry, new ids wrapped as proxies). We decode objects from the
   resource's user data and create a Resource for every ``new_id``.
3. Events carrying a ``new_id`` sent NULL (``wl_data_device.data_offer``), and
   array arguments were never attached to the ``wl_argument``. Both are fixed.
4. Resources were only weakly held: the Python object (and the handle the C side
   points at) could be collected while the client still used it. We hold every
   live resource until libwayland destroys it, then mark it dead
   (``_ptr = None``) so later events on it are dropped instead of touching
   freed memory.
5. Handler return values leaked into C (a handler returning an object crashed
   the dispatcher); exceptions were printed and ignored. Now a handler's return
   value is discarded and an exception disconnects that client with an
   implementation error, never the compositor.

6. A Global dropped by Python freed the handle its C global still pointed at
   (``make_global`` keeps every global alive).

Besides these, requests named ``destroy``/``release`` (destructors in every
protocol we serve) destroy the resource after the handler ran, as libwayland
expects the compositor to do, and ``_post_error`` no longer feeds the message
to a printf format string.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pywayland
from pywayland import ffi, lib
from pywayland.dispatcher import Dispatcher
from pywayland.protocol_core import Global, Resource
from pywayland.protocol_core.argument import ArgumentType
from pywayland.protocol_core.message import Message
from pywayland.server import Client

log = logging.getLogger(__name__)

PINNED_VERSION = "0.4.19"
DESTRUCTOR_NAMES = frozenset({"destroy", "release"})
WL_DISPLAY_ERROR_IMPLEMENTATION = 3

# Resources libwayland still knows about, by wl_resource address.
_live: dict[int, Resource[Any]] = {}
_globals: list[Global[Any]] = []
_applied = False


def address(ptr: Any) -> int:
    """The integer address of a cffi pointer (usable with ctypes)."""
    return int(ffi.cast("uintptr_t", ptr))


def _find_libwayland_server() -> ctypes.CDLL:
    libs = Path(pywayland.__file__).resolve().parent.parent / "pywayland.libs"
    for candidate in sorted(libs.glob("libwayland-server*.so*")):
        # dlopen of the already-loaded file returns the very same instance the
        # cffi module uses, so wl_shm_buffer state is shared.
        return ctypes.CDLL(str(candidate))
    return ctypes.CDLL("libwayland-server.so.0")


libwayland_server = _find_libwayland_server()
_c = libwayland_server
_c.wl_client_post_implementation_error.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
_c.wl_client_post_no_memory.argtypes = [ctypes.c_void_p]
_c.wl_resource_get_version.argtypes = [ctypes.c_void_p]
_c.wl_resource_get_version.restype = ctypes.c_int
_c.wl_resource_get_class.argtypes = [ctypes.c_void_p]
_c.wl_resource_get_class.restype = ctypes.c_char_p
_c.wl_client_get_fd.argtypes = [ctypes.c_void_p]
_c.wl_client_get_fd.restype = ctypes.c_int


def post_implementation_error(client_ptr: Any, message: str) -> None:
    """Disconnect a client with ``wl_display.error(implementation)``."""
    _c.wl_client_post_implementation_error(address(client_ptr), b"%s", message.encode()[:400])


def resource_from_ptr(ptr: Any) -> Resource[Any] | ForeignResource | None:
    """The Python object behind a ``wl_resource *``: ours, or a foreign wrapper."""
    if ptr == ffi.NULL:
        return None
    found = _live.get(address(ptr))
    if found is not None:
        return found
    return ForeignResource(ffi.cast("struct wl_resource *", ptr))


def live_resources() -> int:
    return len(_live)


class ForeignResource:
    """A resource libwayland itself created (a ``wl_shm`` buffer): pointer only."""

    def __init__(self, ptr: Any) -> None:
        self._ptr = ptr

    @property
    def address(self) -> int:
        return address(self._ptr)

    def interface_name(self) -> str:
        name = _c.wl_resource_get_class(self.address)
        return name.decode() if name else "?"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ForeignResource) and other.address == self.address

    def __hash__(self) -> int:
        return self.address


class _BadArguments:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def decode_request_arguments(resource: Resource[Any], message: Message, c_args: Any) -> list[Any]:
    """Decode a request's ``wl_argument`` array the server way."""
    args: list[Any] = []
    for i, argument in enumerate(message.arguments):
        arg = c_args[i]
        kind = argument.argument_type
        if kind == ArgumentType.Int:
            args.append(arg.i)
        elif kind == ArgumentType.Uint:
            args.append(arg.u)
        elif kind == ArgumentType.Fixed:
            args.append(lib.wl_fixed_to_double(arg.f))
        elif kind == ArgumentType.FileDescriptor:
            args.append(arg.h)
        elif kind == ArgumentType.String:
            args.append(None if arg.s == ffi.NULL else ffi.string(arg.s).decode("utf-8", "replace"))
        elif kind == ArgumentType.Object:
            args.append(resource_from_ptr(arg.o))
        elif kind == ArgumentType.NewId:
            if argument.interface is None:
                raise ValueError(f"untyped new_id in {message.name} is not supported")
            assert resource._ptr is not None
            client_ptr = lib.wl_resource_get_client(resource._ptr)
            args.append(argument.interface.resource_class(client_ptr, resource.version, arg.n))
        elif kind == ArgumentType.Array:
            array = arg.a
            args.append(b"" if array == ffi.NULL else ffi.buffer(array.data, array.size)[:])
        else:
            raise ValueError(f"bad argument type {kind}")
    return args


def encode_event_arguments(message: Message, args: tuple[Any, ...]) -> tuple[Any, list[Any]] | None:
    """Build a ``wl_argument`` array for an event; ``None`` if an object is gone."""
    c_args = ffi.new("union wl_argument []", max(1, len(message.arguments)))
    keep: list[Any] = []
    if len(args) != len(message.arguments):
        raise TypeError(f"{message.name} takes {len(message.arguments)} arguments, got {len(args)}")
    for i, (argument, value) in enumerate(zip(message.arguments, args, strict=True)):
        kind = argument.argument_type
        if kind == ArgumentType.Int:
            c_args[i].i = int(value)
        elif kind == ArgumentType.Uint:
            c_args[i].u = int(value) & 0xFFFFFFFF
        elif kind == ArgumentType.Fixed:
            c_args[i].f = lib.wl_fixed_from_double(float(value))
        elif kind == ArgumentType.FileDescriptor:
            c_args[i].h = int(value)
        elif kind == ArgumentType.String:
            if value is None:
                c_args[i].s = ffi.NULL
            else:
                text = ffi.new("char []", str(value).encode())
                keep.append(text)
                c_args[i].s = text
        elif kind in (ArgumentType.Object, ArgumentType.NewId):
            ptr = None if value is None else value._ptr
            if ptr is None:
                if value is not None or not argument.nullable:
                    return None
                c_args[i].o = ffi.NULL
            else:
                c_args[i].o = ffi.cast("struct wl_object *", ptr)
        elif kind == ArgumentType.Array:
            data = bytes(value)
            array = ffi.new("struct wl_array *")
            buf = ffi.new("char []", max(1, len(data)))
            ffi.memmove(buf, data, len(data))
            array.size = array.alloc = len(data)
            array.data = buf
            keep.extend((array, buf))
            c_args[i].a = array
    return c_args, keep


class ServerDispatcher(Dispatcher):
    """Request dispatch for one server resource (see the module docstring)."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__(messages, destructor=True)
        self._user_destructor: Callable[[Any], None] | None = None
        self._server_messages = [_ServerMessage(i, self) for i in range(len(messages))]

    # dispatcher_func calls self.dispatcher[opcode] then
    # self.dispatcher.messages[opcode].c_to_arguments(c_args).
    def __getitem__(self, opcode_or_name: str | int) -> Any:
        if isinstance(opcode_or_name, int):
            return self._server_messages[opcode_or_name].invoke
        return super().__getitem__(opcode_or_name)

    def handler(self, opcode: int) -> Any:
        return self._callback[opcode]

    @property
    def messages(self) -> Any:  # type: ignore[override]
        return getattr(self, "_server_messages", None) or self._plain_messages

    @messages.setter
    def messages(self, value: list[Message]) -> None:
        self._plain_messages = value

    @property
    def destructor(self) -> Callable[[Any], None]:
        return self._finalize

    @destructor.setter
    def destructor(self, value: Callable[[Any], None] | None) -> None:
        self._user_destructor = value

    def _finalize(self, resource: Resource[Any]) -> None:
        try:
            if self._user_destructor is not None:
                self._user_destructor(resource)
        except Exception:
            log.exception("resource destructor failed interface=%s", resource.interface.name)
        finally:
            if resource._ptr is not None:
                _live.pop(address(resource._ptr), None)
            resource._ptr = None


class _ServerMessage:
    """Stands in for a request Message inside the stock ``dispatcher_func``."""

    def __init__(self, opcode: int, dispatcher: ServerDispatcher) -> None:
        self.opcode = opcode
        self.dispatcher = dispatcher
        self.message: Message = dispatcher._plain_messages[opcode]
        self.name = self.message.name

    def c_to_arguments(self, c_args: Any) -> list[Any]:
        # Cannot know the resource here; decoding happens in invoke() instead.
        return [_RawArguments(c_args)]

    def invoke(self, resource: Resource[Any], raw: Any) -> int:
        client_ptr = lib.wl_resource_get_client(resource._ptr) if resource._ptr is not None else None
        try:
            args = decode_request_arguments(resource, self.message, raw.c_args)
            callback = self.dispatcher.handler(self.opcode)
            if callback is not None:
                callback(resource, *args)
            if self.name in DESTRUCTOR_NAMES and resource._ptr is not None:
                resource.destroy()
        except ProtocolError as exc:
            if resource._ptr is not None:
                resource._post_error(exc.code, exc.message)
        except Exception as exc:
            log.exception("request failed interface=%s request=%s", resource.interface.name, self.name)
            if client_ptr is not None:
                post_implementation_error(client_ptr, f"{resource.interface.name}.{self.name}: {exc}")
        return 0


class _RawArguments:
    def __init__(self, c_args: Any) -> None:
        self.c_args = c_args


class ProtocolError(Exception):
    """Raised by a handler: post ``code`` on the resource (disconnects the client)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _resource_init(self: Resource[Any], client: Client | Any, version: int | None = None, id: int = 0) -> None:
    if version is None:
        version = self.interface.version
    self.version = version
    self.dispatcher = ServerDispatcher(self.interface.requests)
    client_ptr = client._ptr if isinstance(client, Client) else client
    ptr = lib.wl_resource_create(client_ptr, self.interface._ptr, version, id)
    if ptr == ffi.NULL:
        _c.wl_client_post_no_memory(address(client_ptr))
        self._ptr = None
        raise MemoryError(f"wl_resource_create failed for {self.interface.name}")
    self._ptr = ptr
    self._handle = ffi.new_handle(self)
    lib.wl_resource_set_dispatcher(ptr, lib.dispatcher_func, self._handle, self._handle,
                                   lib.resource_destroy_func)
    _live[address(ptr)] = self


def _resource_post_event(self: Resource[Any], opcode: int, *args: Any) -> None:
    if self._ptr is None:
        return
    message = self.interface.events[opcode]
    if message.version is not None and message.version > self.version:
        return
    encoded = encode_event_arguments(message, args)
    if encoded is None:
        log.debug("event dropped, object gone interface=%s event=%s", self.interface.name, message.name)
        return
    c_args, keep = encoded
    lib.wl_resource_post_event_array(self._ptr, opcode, c_args)
    del keep


def _resource_post_error(self: Resource[Any], code: int, msg: str = "") -> None:
    if self._ptr is None:
        return
    lib.wl_resource_post_error(self._ptr, code, b"%s", ffi.new("char []", msg.encode()[:400]))


def _resource_client(self: Resource[Any]) -> Any:
    return None if self._ptr is None else lib.wl_resource_get_client(self._ptr)


def _resource_alive(self: Resource[Any]) -> bool:
    return self._ptr is not None


def make_global(display: Any, interface: Any, version: int, bind: Callable[[Resource[Any]], None]) -> Global[Any]:
    """Create a global whose bind handler cannot take the compositor down."""

    def safe_bind(resource: Resource[Any]) -> None:
        try:
            bind(resource)
        except Exception as exc:
            log.exception("bind failed interface=%s", interface.name)
            client_ptr = resource.client
            if client_ptr is not None:
                post_implementation_error(client_ptr, f"bind {interface.name}: {exc}")

    glob = interface.global_class(display, version)
    glob.bind_func = safe_bind
    # The C global points at a handle owned by this object: it must outlive the display.
    _globals.append(glob)
    return glob


def apply() -> None:
    """Patch pywayland's server side (idempotent). Refuses other versions."""
    global _applied
    if _applied:
        return
    from importlib.metadata import version as dist_version

    installed = dist_version("pywayland")
    if installed != PINNED_VERSION:
        raise RuntimeError(f"pywayland {installed} installed; the fixes are written for {PINNED_VERSION}")
    Resource.__init__ = _resource_init  # type: ignore[method-assign]
    Resource._post_event = _resource_post_event  # type: ignore[method-assign]
    Resource._post_error = _resource_post_error  # type: ignore[method-assign]
    Resource.client = property(_resource_client)  # type: ignore[attr-defined]
    Resource.alive = property(_resource_alive)  # type: ignore[attr-defined]
    _applied = True
