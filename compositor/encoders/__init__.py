"""Encoders run inside the session host, once per session per (format, options).

The host calls an encoder with a numpy view of the visible screen (H x W x 4, uint8, BGRX)
and the damaged rectangles since its last call; the encoder returns the messages to push to
every subscriber of its stream group. See docs/session-host-protocol.md, *Subscriptions*.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from compositor.rects import Rect


class CodecError(ValueError):
    """A bitmap stream that a decoder cannot read (truncated, overrunning, unknown orders).

    Only the reference decoders raise it; they serve the tests and the benchmarks."""


@dataclass
class EncodedFrame:
    """One pushed ``frame`` message: header fields (besides op/stream/seq) and the payload.
    ``variant`` set: only for the subscribers that chose that variant (see ``Encoder``);
    ``viewer`` set: only for that one subscriber (see ``Encoder.catch_up``)."""

    fields: dict[str, Any]
    payload: bytes = field(default=b"", repr=False)
    variant: str | None = None
    viewer: int | None = None


class Encoder:
    """Base class. Subclasses set ``format`` and implement ``encode``."""

    format: ClassVar[str] = ""
    # A stateful encoder (H.264) cannot let a subscriber skip a frame: a subscriber that
    # fell behind is given a keyframe when it is ready again.
    stateful: ClassVar[bool] = False

    # An option each subscriber chooses for itself without a stream of its own: name and
    # allowed values, the first the default. It only picks which encoding of some frames the
    # subscriber receives (lossless images as WebP for a browser, Planar for RDP), so viewers
    # that differ in it still share one encoder.
    variant_option: ClassVar[tuple[str, tuple[str, ...]] | None] = None

    def __init__(self, width: int, height: int, options: dict[str, Any]) -> None:
        self.width = width
        self.height = height
        self.options = options
        self.variants: frozenset[str] = frozenset()

    def set_variants(self, variants: set[str]) -> None:
        """The variants the stream's subscribers chose: frames are encoded in each of these."""
        self.variants = frozenset(variants)

    def encode(self, screen: np.ndarray, rects: list[Rect], *, full: bool) -> list[EncodedFrame]:
        """Encode the damaged ``rects`` of ``screen``; ``full`` asks for a key/full frame."""
        raise NotImplementedError

    def idle(self, screen: np.ndarray, now: float, viewers: frozenset[int] = frozenset()) -> list[EncodedFrame]:
        """Called about every 100 ms while ``idle_pending`` (lossless touch-up goes here).
        ``viewers``: the subscribers able to take a frame now (for frames only one of them gets)."""
        return []

    @property
    def idle_pending(self) -> bool:
        """Whether ``idle`` may have work now or soon (areas sent lossy and not yet touched
        up): the pipeline's idle tick runs every 100 ms only then."""
        return False

    def catch_up(self, screen: np.ndarray, viewer: int, variant: str | None) -> list[EncodedFrame] | None:
        """A stateful encoder's way to start one more decoder without a keyframe for the
        stream's other subscribers: frames that bring ``viewer`` to ``screen``, after which
        it takes the stream's frames through ``personalize``. None: not possible now (no
        stream running yet), the caller makes a keyframe for everyone instead."""
        return None

    def personalize(self, frame: EncodedFrame, viewer: int) -> EncodedFrame:
        """``frame`` as ``viewer`` must receive it (itself unless that viewer caught up)."""
        return frame

    def forget(self, viewer: int) -> None:
        """``viewer`` left the stream: drop what was kept for it."""

    def resize(self, width: int, height: int) -> None:
        self.width = width
        self.height = height

    def close(self) -> None:
        pass


class EncoderRegistry(Mapping[str, type[Encoder]]):
    """Format name -> encoder class. Built-in encoders are known by name at start and imported
    the first time a stream of theirs is asked for: a session nobody watches never loads
    PyAV (about 60 ms of start-up and 15 MiB of memory per host)."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Encoder]] = {}
        self._modules: dict[str, str] = {}

    def register(self, cls: type[Encoder]) -> None:
        self._classes[cls.format] = cls

    def register_lazy(self, fmt: str, module: str) -> None:
        if fmt not in self._classes:
            self._modules[fmt] = module

    def __getitem__(self, fmt: str) -> type[Encoder]:
        if fmt not in self._classes and fmt in self._modules:
            importlib.import_module(self._modules[fmt])  # the module registers its classes
            self._modules = {k: v for k, v in self._modules.items() if k not in self._classes}
        return self._classes[fmt]

    def __contains__(self, fmt: object) -> bool:
        return fmt in self._classes or fmt in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._classes, *self._modules}))

    def __len__(self) -> int:
        return len({*self._classes, *self._modules})


ENCODERS = EncoderRegistry()
BUILTIN = {"raw": "compositor.encoders.raw", "damage": "compositor.encoders.raw",
           "h264": "compositor.encoders.h264", "jpeg": "compositor.encoders.jpeg",
           "bitmap": "compositor.encoders.bitmap"}


def register(cls: type[Encoder]) -> type[Encoder]:
    ENCODERS.register(cls)
    return cls


def options_key(options: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in options.items()))


def load_builtin_encoders() -> None:
    """Make the built-in encoders known; each is imported when first used."""
    for fmt, module in BUILTIN.items():
        ENCODERS.register_lazy(fmt, module)
