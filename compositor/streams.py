"""The session host's streams: subscriptions, the groups that share an encoder, and the pace of
a stream that has one viewer.

A *group* is every subscription of one (format, options): one encoder serves them all. When a
viewer of a shared group cannot keep up (its flow-control window stays full past
``STALL_SECONDS`` while the others could take more), it is split off into a group of its own
instead of holding the others back or making them all start again from a keyframe: it gets its
own encoder (one keyframe, for it alone) and from then on its own pace.

A group with one viewer *paces* itself to that viewer's link (``Pace``): when the viewer holds
an update back past ``PACE_STALL_SECONDS`` the stream steps down a level (fewer frames a second and,
for H.264, a higher quantiser: fewer bytes a frame); after ``STEP_UP_AFTER`` seconds of keeping
up it steps back up. Merged damage means a slower stream never queues: each frame carries
everything that changed since the last.

This module is the state and the rules; compositor/pipeline.py drives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compositor import rects
from compositor.encoders import Encoder

if TYPE_CHECKING:
    from compositor.host import Connection

STALL_SECONDS = 0.25  # an update held back this long by one viewer of a shared group: split it off
PACE_STALL_SECONDS = 1.0  # held back this long by the one viewer of a group: step down a level
STEP_UP_AFTER = 5.0  # seconds of keeping up before a paced stream steps up a level
STEP_INTERVAL = 2.0  # seconds at least between two level changes
# Per level: what is added to the H.264 quantiser, and frames a second at most. The first step
# only halves the frame rate: a new quantiser means a new encoder, whose first frame is whole.
LEVELS: tuple[tuple[int, float], ...] = ((0, math.inf), (0, 30.0), (4, 20.0), (8, 12.0), (12, 8.0))
MAX_QP = 44


@dataclass(eq=False)
class Subscription:
    conn: Connection
    stream: int
    group: StreamGroup
    window: int = 4
    sent_seq: int = 0
    acked_seq: int = 0
    needs_full: bool = True
    variant: str | None = None  # the encoder's variant option this subscriber chose

    @property
    def ready(self) -> bool:
        return self.sent_seq - self.acked_seq < self.window


def split_variant(encoder_class: type[Encoder], options: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Subscription options without the encoder's per-subscriber variant option, and the variant
    (its default when not given); a variant the encoder does not have is a ValueError."""
    if encoder_class.variant_option is None:
        return options, None
    name, allowed = encoder_class.variant_option
    options = dict(options)
    variant = options.pop(name, allowed[0])
    if variant not in allowed:
        raise ValueError(f"{encoder_class.format} option {name} must be one of {list(allowed)}, not {variant!r}")
    return options, variant


@dataclass
class Pace:
    """Level of a stream with one viewer: 0 is full quality at up to ``max_fps`` (the stream's
    ``fps`` option or the host's)."""

    max_fps: float
    level: int = 0
    changed_at: float = float("-inf")
    clear_since: float | None = None  # since when the viewer has kept up

    @property
    def fps(self) -> float:
        return min(self.max_fps, LEVELS[self.level][1])

    @property
    def qp_added(self) -> int:
        return LEVELS[self.level][0]

    def stalled(self, now: float) -> bool:
        """The viewer held an update back too long: one level down. True if the level changed."""
        self.clear_since = None
        if self.level + 1 >= len(LEVELS) or now - self.changed_at < STEP_INTERVAL:
            return False
        self.level += 1
        self.changed_at = now
        return True

    def kept_up(self, now: float) -> bool:
        """The viewer took an update at once: one level up after long enough. True if changed."""
        if self.clear_since is None:
            self.clear_since = now
        if self.level == 0 or now - self.clear_since < STEP_UP_AFTER or now - self.changed_at < STEP_INTERVAL:
            return False
        self.level -= 1
        self.changed_at = now
        self.clear_since = now
        return True


def paced_options(options: dict[str, Any], pace: Pace) -> dict[str, Any]:
    """The encoder options at ``pace``'s level: an H.264 quantiser raised by the level."""
    if pace.qp_added == 0 or "crf" in options:
        return options
    from compositor.encoders.h264 import DEFAULT_QP

    return {**options, "qp": min(MAX_QP, int(options.get("qp", DEFAULT_QP)) + pace.qp_added)}


@dataclass(eq=False)
class StreamGroup:
    """Subscribers of one (format, options): they share one encoder. ``solo`` groups were made
    for one viewer (split off, or paced below full quality) and take no newcomers."""

    fmt: str
    options: dict[str, Any]
    encoder: Encoder
    pace: Pace
    solo: bool = False
    subscribers: list[Subscription] = field(default_factory=list)
    pending: list[rects.Rect] = field(default_factory=list)
    pending_since: float | None = None
    force_full: bool = False
    last_encode: float = float("-inf")
    keyframes: int = 0  # made for the whole group
    catch_ups: int = 0  # viewers brought in on a keyframe of their own

    @property
    def wants_idle(self) -> bool:
        return type(self.encoder).idle is not Encoder.idle

    def update_variants(self) -> None:
        self.encoder.set_variants({s.variant for s in self.subscribers if s.variant is not None})

    def next_encode(self, now: float) -> float:
        """Seconds until this group may encode again (0: now), by its frame-rate cap."""
        return max(0.0, self.last_encode + 1.0 / self.pace.fps - now)
