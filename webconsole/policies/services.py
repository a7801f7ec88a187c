"""Writes of users, groups, policies and desktop profiles, as admins make them from the
console's pages and the API. Each one is recorded in the audit log (``webconsole.audit``)."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from webconsole.audit.services import record
from webconsole.policies.models import DesktopProfile, Policy

log = logging.getLogger(__name__)

POLICY_FIELDS = ("max_desktops", "max_width", "max_height", "idle_timeout", "max_lifetime", "memory_bytes", "cpus",
                 "pids", "restrict_profiles", "default_profile", "browser_access", "rdp_access", "clipboard",
                 "file_upload", "file_download", "share_view", "share_control")
PROFILE_FIELDS = ("name", "label", "description", "startup", "wayland", "default_width", "default_height", "icon")


# -- users ----------------------------------------------------------------------------------


def user_create(*, actor: AbstractBaseUser, username: str, password: str, email: str = "", is_staff: bool = False,
                groups: list[Group] | None = None, address: str = "") -> AbstractBaseUser:
    User = get_user_model()
    errors: dict[str, list[str]] = {}
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = [f"a user named {username!r} exists already"]
    candidate = User(username=username, email=email)
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password, email=email, is_staff=is_staff)
        if groups:
            user.groups.set(groups)
    record("user.create", actor=actor, target=user, address=address, staff=is_staff,
           groups=[g.name for g in groups or ()])
    return user


def user_set_active(*, actor: AbstractBaseUser, user: AbstractBaseUser, active: bool, address: str = "") -> None:
    """Enable or disable ``user``'s logins. A disabled user's open viewers and RDP connections
    end within seconds (they recheck the account); their desktops keep running."""
    if user.pk == actor.pk and not active:
        raise ValidationError({"is_active": ["you cannot disable your own account"]})
    type(user).objects.filter(pk=user.pk).update(is_active=active)
    user.is_active = active
    record("user.enable" if active else "user.disable", actor=actor, target=user, address=address)


def user_set_password(*, actor: AbstractBaseUser, user: AbstractBaseUser, password: str, address: str = "") -> None:
    """A new password (every session of the user signs out; open connections end)."""
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    user.save(update_fields=["password"])
    record("user.password_reset", actor=actor, target=user, address=address)


def user_set_groups(*, actor: AbstractBaseUser, user: AbstractBaseUser, groups: list[Group],
                    address: str = "") -> None:
    user.groups.set(groups)
    record("user.groups", actor=actor, target=user, address=address, groups=sorted(g.name for g in groups))


def user_delete(*, actor: AbstractBaseUser, user: AbstractBaseUser, with_home: bool = False,
                address: str = "") -> None:
    """Delete ``user`` (their desktops stopped, their Unix account kept or removed with its
    home: ``webconsole.accounts.services.user_delete``)."""
    from webconsole.accounts import services as account_services
    from webconsole.accounts.unix import AccountError

    if user.pk == actor.pk:
        raise ValidationError({"user": ["you cannot delete your own account"]})
    label, pk = str(user), user.pk
    try:
        account_services.user_delete(user=user, with_home=with_home)
    except AccountError as exc:
        raise ValidationError({"with_home": [str(exc)]}) from None
    record("user.delete", actor=actor, target_type="user", target_id=pk, target_label=label, address=address,
           with_home=with_home)


# -- groups ---------------------------------------------------------------------------------


def group_create(*, actor: AbstractBaseUser, name: str, address: str = "") -> Group:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["a group needs a name"]})
    if Group.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": [f"a group named {name!r} exists already"]})
    group = Group.objects.create(name=name)
    record("group.create", actor=actor, target=group, address=address)
    return group


def group_set_members(*, actor: AbstractBaseUser, group: Group, members: list[AbstractBaseUser],
                      address: str = "") -> None:
    group.user_set.set(members)
    record("group.members", actor=actor, target=group, address=address,
           members=sorted(m.get_username() for m in members))


def group_delete(*, actor: AbstractBaseUser, group: Group, address: str = "") -> None:
    label, pk = str(group), group.pk
    group.delete()  # its policy goes with it (CASCADE); its members stay
    record("group.delete", actor=actor, target_type="group", target_id=pk, target_label=label, address=address)


# -- policies -------------------------------------------------------------------------------


def validate_policy(data: dict[str, Any]) -> None:
    """Checks across fields that the models' own cannot make: the maximum size within the
    server's range; an allowed default profile."""
    (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
    errors: dict[str, list[str]] = {}
    for field, low, high in (("max_width", min_w, max_w), ("max_height", min_h, max_h)):
        value = data.get(field)
        if value is not None and not low <= value <= high:
            errors[field] = [f"must be between {low} and {high} (the server's range)"]
    if (value := data.get("cpus")) is not None and not (math.isfinite(value) and value >= 0):
        errors["cpus"] = ["must be 0 (no quota) or more"]
    default, profiles = data.get("default_profile"), data.get("profiles")
    if data.get("restrict_profiles") and default is not None and profiles is not None and default not in profiles:
        errors["default_profile"] = ["the default profile must be one of the allowed profiles"]
    if errors:
        raise ValidationError(errors)


def policy_set(*, actor: AbstractBaseUser, group: Group | None = None, user: AbstractBaseUser | None = None,
               data: dict[str, Any], address: str = "") -> Policy:
    """Set a group's policy or a user's override to ``data`` (the fields of ``POLICY_FIELDS``
    and ``profiles``; a field left out or None has no say / inherits). New desktops follow at
    once; running ones as docs/admin.md says."""
    if (group is None) == (user is None):
        raise ValueError("a policy is a group's or a user's")
    validate_policy(data)
    with transaction.atomic():
        policy = Policy.objects.filter(group=group) if group is not None else Policy.objects.filter(user=user)
        policy = policy.first() or Policy(group=group, user=user)
        before = _policy_values(policy) if policy.pk else {}
        for field in POLICY_FIELDS:
            setattr(policy, field, data.get(field))
        policy.full_clean(exclude=["group", "user"])
        policy.save()
        policy.profiles.set(data.get("profiles") or [])
    after = _policy_values(policy)
    changed = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    record("policy.change", actor=actor, target=group if group is not None else user, address=address,
           scope="group" if group is not None else "user", changed=changed)
    return policy


def policy_clear(*, actor: AbstractBaseUser, user: AbstractBaseUser | None = None, group: Group | None = None,
                 address: str = "") -> None:
    """Remove a user's override (they inherit everything again) or a group's policy."""
    qs = Policy.objects.filter(user=user) if user is not None else Policy.objects.filter(group=group)
    if qs.delete()[0]:
        record("policy.clear", actor=actor, target=user if user is not None else group, address=address)


def _policy_values(policy: Policy) -> dict[str, Any]:
    values = {f: getattr(policy, f) for f in POLICY_FIELDS if f != "default_profile"}
    values["default_profile"] = policy.default_profile.name if policy.default_profile_id else None
    values["profiles"] = sorted(p.name for p in policy.profiles.all()) if policy.pk else []
    return values


# -- profiles -------------------------------------------------------------------------------


def profile_save(*, actor: AbstractBaseUser, data: dict[str, Any], profile: DesktopProfile | None = None,
                 address: str = "") -> DesktopProfile:
    created = profile is None
    profile = profile or DesktopProfile()
    for field in PROFILE_FIELDS:
        if field in data:
            setattr(profile, field, data[field])
    if (profile.default_width is None) != (profile.default_height is None):
        raise ValidationError({"default_width": ["give both a default width and height, or neither"]})
    (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
    if profile.default_width is not None and not (min_w <= profile.default_width <= max_w
                                                  and min_h <= profile.default_height <= max_h):
        raise ValidationError({"default_width": [f"the default size must be within {min_w}x{min_h} to "
                                                 f"{max_w}x{max_h}"]})
    profile.full_clean(validate_unique=True)
    profile.save()
    record("profile.create" if created else "profile.change", actor=actor, target=profile, address=address,
           startup=profile.startup, wayland=profile.wayland)
    return profile


def profile_delete(*, actor: AbstractBaseUser, profile: DesktopProfile, address: str = "") -> None:
    """Delete a profile; policies naming it as their default fall back to the server's default;
    desktops started from it keep running (they keep the profile's name)."""
    label, pk = str(profile), profile.pk
    profile.delete()
    record("profile.delete", actor=actor, target_type="desktopprofile", target_id=pk, target_label=label,
           address=address)
