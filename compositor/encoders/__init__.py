"""Encoders run inside the session host, once per session per (format, options).

The host calls an encoder with a numpy view of the visible screen (H x W x 4, uint8, BGRX)
and the damaged rectangles since its last call; the encoder returns the messages to push to
every subscriber of its stream group. See docs/session-host-protocol.md, *Subscriptions*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from compositor.rects import Rect


@dataclass
class EncodedFrame:
    """One pushed ``frame`` message: header fields (besides op/stream/seq) and the payload."""

    fields: dict[str, Any]
    payload: bytes = field(default=b"", repr=False)


class Encoder:
    """Base class. Subclasses set ``format`` and implement ``encode``."""

    format: ClassVar[str] = ""
    # A stateful encoder (H.264) cannot let a subscriber skip a frame: a subscriber that
    # fell behind is given a keyframe when it is ready again.
    stateful: ClassVar[bool] = False

    def __init__(self, width: int, height: int, options: dict[str, Any]) -> None:
        self.width = width
        self.height = height
        self.options = options

    def encode(self, screen: np.ndarray, rects: list[Rect], *, full: bool) -> list[EncodedFrame]:
        """Encode the damaged ``rects`` of ``screen``; ``full`` asks for a key/full frame."""
        raise NotImplementedError

    def idle(self, screen: np.ndarray, now: float) -> list[EncodedFrame]:
        """Called about every 100 ms while nothing changed (lossless touch-up goes here)."""
        return []

    def resize(self, width: int, height: int) -> None:
        self.width = width
        self.height = height

    def close(self) -> None:
        pass


ENCODERS: dict[str, type[Encoder]] = {}


def register(cls: type[Encoder]) -> type[Encoder]:
    ENCODERS[cls.format] = cls
    return cls


def options_key(options: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in options.items()))


def load_builtin_encoders() -> None:
    """Import the encoder modules so they register themselves (missing deps are skipped)."""
    import importlib
    import logging

    for name in ("raw", "h264", "jpeg"):
        try:
            importlib.import_module(f"compositor.encoders.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"compositor.encoders.{name}":
                logging.getLogger(__name__).warning("encoder %s unavailable: %s", name, exc)
