"""The choices of the dashboard's start form: desktop profiles and sizes, each in one function."""

from __future__ import annotations

from django.conf import settings

COMMON_SIZES = ((1024, 768), (1280, 720), (1280, 800), (1366, 768), (1440, 900), (1600, 900), (1920, 1080),
                (1920, 1200), (2560, 1440))


def profile_choices(*, user) -> list[tuple[str, str]]:
    """Desktop profiles ``user`` may start, as (value, label); empty: the form shows no choice
    and ``desktop_create`` gets no ``profile``."""
    return []


def size_choices() -> list[str]:
    """Sizes offered (``WxH``), within the allowed range, the default first."""
    (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
    default = "x".join(map(str, settings.WRD_DEFAULT_SIZE))
    sizes = [f"{w}x{h}" for w, h in COMMON_SIZES if min_w <= w <= max_w and min_h <= h <= max_h]
    return [default, *[s for s in sizes if s != default]]


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x800"`` as (1280, 800); ValueError otherwise."""
    width, height = (int(v) for v in text.strip().lower().split("x"))
    return width, height
