"""The checks the services and front ends make against a user's effective policy. The shared
code (desktop services, the viewer consumer, file transfer, the RDP server's console door)
calls these one-liners; the decisions live here."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from compositor import cgroups
from webconsole.policies.effective import EffectivePolicy, effective_policy
from webconsole.policies.models import DesktopLaunch, DesktopProfile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchPlan:
    """A new desktop as the policy allows it: its size and profile."""

    policy: EffectivePolicy
    width: int
    height: int
    profile: DesktopProfile | None  # None: no profile rows at all (the server's default start-up)


def plan_desktop(*, user: AbstractBaseUser, width: int | None, height: int | None,
                 profile: str | None) -> LaunchPlan:
    """Check a new desktop of ``user`` against their policy: the profile (the policy's default
    when None) must exist and be allowed, the size (the profile's default, then the server's,
    when not given) within the server's range and the policy's maximum. Raises
    ``ValidationError`` with a message per field. The desktop count is checked by the caller
    under its lock (``check_desktop_count``)."""
    policy = effective_policy(user=user)
    name = profile or policy.default_profile
    chosen = DesktopProfile.objects.filter(name=name).first()
    if chosen is None and profile:
        raise ValidationError({"profile": [f"no desktop profile named {name!r}"]}, code="profile")
    if chosen is None:  # the default profile is gone: the first the policy allows, if any
        chosen = next((p for p in DesktopProfile.objects.all() if policy.allows_profile(p.name)), None)
        if chosen is None and DesktopProfile.objects.exists():
            raise ValidationError({"profile": ["your policy allows no existing desktop profile"]}, code="profile")
    if chosen is not None and not policy.allows_profile(chosen.name):
        raise ValidationError({"profile": [f"your policy does not allow the {chosen.name!r} profile"]},
                              code="profile")
    default_w, default_h = settings.WRD_DEFAULT_SIZE
    if chosen is not None and chosen.default_width and chosen.default_height:
        default_w, default_h = chosen.default_width, chosen.default_height
    if width is None and height is None:
        # A default larger than the policy allows is brought down to it, not refused.
        width, height = min(default_w, policy.max_width), min(default_h, policy.max_height)
    width, height = int(width or default_w), int(height or default_h)
    check_size(policy, width, height)
    return LaunchPlan(policy=policy, width=width, height=height, profile=chosen)


def check_size(policy: EffectivePolicy, width: int, height: int) -> None:
    (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
    errors = {}
    if not (min_w <= width <= max_w and min_h <= height <= max_h):
        errors["size"] = [f"size {width}x{height} is outside the allowed range {min_w}x{min_h} to {max_w}x{max_h}"]
    elif width > policy.max_width or height > policy.max_height:
        errors["size"] = [f"size {width}x{height} is larger than your policy allows "
                          f"({policy.max_width}x{policy.max_height})"]
    if errors:
        raise ValidationError(errors, code="size")


def check_resize(*, owner: AbstractBaseUser, width: int, height: int) -> None:
    """A running desktop's new size against its owner's policy now."""
    check_size(effective_policy(user=owner), width, height)


def check_desktop_count(policy: EffectivePolicy, active: int) -> None:
    if active >= policy.max_desktops:
        if policy.max_desktops == 0:
            raise ValidationError("your policy allows you no desktops", code="limit")
        raise ValidationError(f"you already have {policy.max_desktops} active desktop(s); stop one first",
                              code="limit")


def record_launch(*, desktop, plan: LaunchPlan) -> None:
    profile = plan.profile
    DesktopLaunch.objects.create(
        desktop=desktop, profile=profile, profile_name=profile.name if profile else "",
        startup=profile.startup if profile else "", wayland=profile.wayland if profile else True)


def launch_args(desktop) -> dict:
    """The session host's start-up command and Wayland switch for ``desktop``: its profile's (an
    empty command is the server's WRD_SESSION_STARTUP, or the host's default); the server's
    WRD_SESSION_WAYLAND=0 turns Wayland off for every profile."""
    launch = DesktopLaunch.objects.filter(desktop=desktop).first()
    startup = (launch.startup if launch is not None else "") or settings.WRD_SESSION_STARTUP or None
    wayland = bool(settings.WRD_SESSION_WAYLAND) and (launch.wayland if launch is not None else True)
    return {"startup": startup, "wayland": wayland}


def desktop_limits(*, user: AbstractBaseUser) -> cgroups.Limits:
    policy = effective_policy(user=user)
    return cgroups.Limits(memory_bytes=policy.memory_bytes, cpus=policy.cpus, pids=policy.pids)


def browser_refusal(*, user: AbstractBaseUser) -> str | None:
    """Why ``user`` may not view desktops in a browser, or None."""
    return None if effective_policy(user=user).browser_access else "browser access is turned off by your policy"


@dataclass(frozen=True)
class ClipboardWays:
    to_desktop: bool
    from_desktop: bool


def clipboard_ways(*, user: AbstractBaseUser) -> ClipboardWays:
    policy = effective_policy(user=user)
    return ClipboardWays(policy.clipboard_to_desktop, policy.clipboard_from_desktop)


def file_ways(*, user: AbstractBaseUser | None) -> tuple[str, ...]:
    """``upload``/``download`` as both the server (WRD_FILE_TRANSFER) and ``user``'s policy allow."""
    server = tuple(settings.WRD_FILE_TRANSFER)
    if user is None or not getattr(user, "is_authenticated", False):
        return server
    policy = effective_policy(user=user)
    mine = (("upload",) if policy.file_upload else ()) + (("download",) if policy.file_download else ())
    return tuple(w for w in server if w in mine)


def viewer_policy(*, user: AbstractBaseUser) -> tuple[str | None, ClipboardWays]:
    """For a browser viewer's socket: why it is refused (None: it is not), and which ways the
    clipboard may go."""
    policy = effective_policy(user=user)
    refusal = None if policy.browser_access else "browser access is turned off by your policy"
    return refusal, ClipboardWays(policy.clipboard_to_desktop, policy.clipboard_from_desktop)


def rdp_connection_policy(*, username: str):
    """What an RDP connection of ``username`` may do (rdpfront.policy.ConnectionPolicy)."""
    from django.contrib.auth import get_user_model

    from rdpfront.policy import ConnectionPolicy, DriveAccess

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        return ConnectionPolicy(rdp=False, refusal="no such active user")
    policy = effective_policy(user=user)
    ways = file_ways(user=user)
    # The client's folders in the session: reading them brings files into the desktop (upload),
    # writing them takes files out of it (download).
    drives = (DriveAccess.OFF if "upload" not in ways
              else DriveAccess.READ_WRITE if "download" in ways else DriveAccess.READ)
    return ConnectionPolicy(
        rdp=policy.rdp_access, refusal="" if policy.rdp_access else "RDP access is turned off by the user's policy",
        clipboard_to_desktop=policy.clipboard_to_desktop, clipboard_from_desktop=policy.clipboard_from_desktop,
        drives=drives)
