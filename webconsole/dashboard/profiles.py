"""The choices of the dashboard's start form: desktop profiles and sizes, each in one function."""

from __future__ import annotations

from django.conf import settings

COMMON_SIZES = ((1024, 768), (1280, 720), (1280, 800), (1366, 768), (1440, 900), (1600, 900), (1920, 1080),
                (1920, 1200), (2560, 1440))


def profile_choices(*, user) -> list[tuple[str, str]]:
    """Desktop profiles ``user``'s policy lets them start, as (value, label), the policy's
    default first."""
    from webconsole.policies.selectors import profile_choices as allowed

    choices = allowed(user=user)
    return [(c.name, c.label) for c in sorted(choices, key=lambda c: not c.is_default)]


def size_choices(*, user) -> list[str]:
    """Sizes offered (``WxH``), within the server's range and ``user``'s policy, the default
    first when it fits."""
    from webconsole.policies.effective import effective_policy

    policy = effective_policy(user=user)
    (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
    max_w, max_h = min(max_w, policy.max_width), min(max_h, policy.max_height)
    default_w, default_h = settings.WRD_DEFAULT_SIZE
    sizes = [f"{w}x{h}" for w, h in COMMON_SIZES if min_w <= w <= max_w and min_h <= h <= max_h]
    if default_w <= max_w and default_h <= max_h:
        default = f"{default_w}x{default_h}"
        sizes = [default, *[s for s in sizes if s != default]]
    return sizes


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x800"`` as (1280, 800); ValueError otherwise."""
    width, height = (int(v) for v in text.strip().lower().split("x"))
    return width, height
