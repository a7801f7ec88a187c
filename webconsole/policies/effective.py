"""One user's effective policy: the server's defaults (settings), then the user's groups, then
the user's own override.

How they combine, field by field (docs/admin.md):

- a group policy's empty field has no say; among the groups that set a field the most
  permissive value wins (more desktops, a larger size, a longer or no timeout, higher or no
  limits, allowed over refused, the union of clipboard directions and of allowed profiles);
  a field no group sets keeps the server's default;
- the user's override, field by field where it is set, replaces what the groups gave;
- policies apply to staff and superusers as to everyone (an admin gives themselves an
  override); they never limit the console itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from webconsole.policies.models import Clipboard, DesktopProfile, Policy

DEFAULT_PROFILE = "minimal"
# Which directions each clipboard setting lets through: (to the desktop, from the desktop).
CLIPBOARD_WAYS = {Clipboard.BOTH: (True, True), Clipboard.TO_DESKTOP: (True, False),
                  Clipboard.FROM_DESKTOP: (False, True), Clipboard.OFF: (False, False)}


@dataclass(frozen=True)
class EffectivePolicy:
    max_desktops: int
    max_width: int
    max_height: int
    idle_timeout: int  # seconds; 0: never
    max_lifetime: int  # seconds; 0: no limit
    memory_bytes: int  # 0: no limit
    cpus: float  # 0: no quota
    pids: int  # 0: no limit
    profiles: frozenset[str] | None  # names allowed; None: any
    default_profile: str
    browser_access: bool
    rdp_access: bool
    clipboard: str  # a Clipboard value
    file_upload: bool
    file_download: bool
    share_view: bool
    share_control: bool

    @property
    def clipboard_to_desktop(self) -> bool:
        return CLIPBOARD_WAYS[Clipboard(self.clipboard)][0]

    @property
    def clipboard_from_desktop(self) -> bool:
        return CLIPBOARD_WAYS[Clipboard(self.clipboard)][1]

    def allows_profile(self, name: str) -> bool:
        return self.profiles is None or name in self.profiles

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["profiles"] = None if self.profiles is None else sorted(self.profiles)
        return out


def server_default() -> EffectivePolicy:
    """The policy of a user no group or override speaks for: today's settings."""
    ways = tuple(settings.WRD_FILE_TRANSFER)
    max_w, max_h = settings.WRD_MAX_SIZE
    return EffectivePolicy(
        max_desktops=settings.WRD_MAX_SESSIONS_PER_USER, max_width=max_w, max_height=max_h,
        idle_timeout=max(0, settings.WRD_IDLE_TIMEOUT), max_lifetime=0, memory_bytes=settings.WRD_SESSION_MEMORY,
        cpus=settings.WRD_SESSION_CPUS, pids=settings.WRD_SESSION_PIDS, profiles=None,
        default_profile=DEFAULT_PROFILE, browser_access=True, rdp_access=True, clipboard=Clipboard.BOTH.value,
        file_upload="upload" in ways, file_download="download" in ways, share_view=True, share_control=True)


def _unlimited_max(values: list) -> Any:
    """Most permissive of values where 0 means "no limit"."""
    return 0 if 0 in values else max(values)


def _clipboard_union(values: list[str]) -> str:
    to = any(CLIPBOARD_WAYS[Clipboard(v)][0] for v in values)
    back = any(CLIPBOARD_WAYS[Clipboard(v)][1] for v in values)
    return next(k.value for k, ways in CLIPBOARD_WAYS.items() if ways == (to, back))


# field -> how the values of several groups combine
COMBINE: dict[str, Callable[[list], Any]] = {
    "max_desktops": max, "max_width": max, "max_height": max,
    "idle_timeout": _unlimited_max, "max_lifetime": _unlimited_max, "memory_bytes": _unlimited_max,
    "cpus": _unlimited_max, "pids": _unlimited_max,
    "browser_access": any, "rdp_access": any, "file_upload": any, "file_download": any,
    "share_view": any, "share_control": any, "clipboard": _clipboard_union,
}


def _profiles_of(policy: Policy) -> frozenset[str] | bool | None:
    """What ``policy`` says of profiles: a set of names, None (any), or False (no say)."""
    if policy.restrict_profiles is None:
        return False
    if not policy.restrict_profiles:
        return None
    return frozenset(p.name for p in policy.profiles.all())


def combine(base: EffectivePolicy, groups: Iterable[Policy], override: Policy | None) -> EffectivePolicy:
    """``base`` with the group policies' say, then the override's (see the module's docstring)."""
    groups = list(groups)
    changes: dict[str, Any] = {}
    for name, merge in COMBINE.items():
        values = [getattr(p, name) for p in groups if getattr(p, name) is not None]
        if values:
            changes[name] = merge(values)
    said = [s for s in (_profiles_of(p) for p in groups) if s is not False]
    if said:
        changes["profiles"] = None if any(s is None for s in said) else frozenset().union(*said)
    defaults = [p.default_profile.name for p in groups if p.default_profile_id is not None]
    if defaults:
        changes["default_profile"] = defaults[0]
    if override is not None:
        for name in COMBINE:
            if (value := getattr(override, name)) is not None:
                changes[name] = value
        if (own := _profiles_of(override)) is not False:
            changes["profiles"] = own
        if override.default_profile_id is not None:
            changes["default_profile"] = override.default_profile.name
    return replace(base, **changes)


def effective_policy(user: AbstractBaseUser) -> EffectivePolicy:
    """``user``'s policy now (read fresh each call: a change applies to the next check).
    ``effective_policy(user).share_view`` and ``.share_control`` say whether they may share."""
    groups = (Policy.objects.filter(group__user=user).select_related("default_profile", "group")
              .prefetch_related("profiles").order_by("group__name"))
    override = (Policy.objects.filter(user=user).select_related("default_profile").prefetch_related("profiles")
                .first())
    return combine(server_default(), groups, override)


def profile_for(policy: EffectivePolicy, name: str | None) -> DesktopProfile | None:
    """The profile named (or the policy's default), None when there is no such profile."""
    return DesktopProfile.objects.filter(name=name or policy.default_profile).first()
