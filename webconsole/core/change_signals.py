"""Receivers that publish account and policy changes (webconsole/core/changes.py) for the
front ends' open connections: whatever ``account_stamp``, ``connection_policy``,
``viewer_policy`` and ``account_still_signed_in`` read. They only publish a notice; the
change itself is made by the service that saved it."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db.models.signals import m2m_changed, post_delete, post_save

from webconsole.core.changes import account_changed


def _user_saved(sender, instance, **kwargs) -> None:
    account_changed(user_pk=instance.pk)


def _user_groups_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if reverse:
        account_changed(user_pk=None)  # a group's members changed: several users
    else:
        account_changed(user_pk=instance.pk)


def _anybody(sender, **kwargs) -> None:
    account_changed(user_pk=None)


def _policy_saved(sender, instance, **kwargs) -> None:
    user_pk = getattr(instance, "user_id", None)
    account_changed(user_pk=user_pk if user_pk is not None and getattr(instance, "group_id", None) is None else None)


def connect() -> None:
    from webconsole.policies.models import DesktopProfile, Policy

    user = get_user_model()
    post_save.connect(_user_saved, sender=user, dispatch_uid="wrd-changes-user-save")
    post_delete.connect(_user_saved, sender=user, dispatch_uid="wrd-changes-user-delete")
    m2m_changed.connect(_user_groups_changed, sender=user.groups.through, dispatch_uid="wrd-changes-groups")
    post_delete.connect(_anybody, sender=Group, dispatch_uid="wrd-changes-group-delete")
    post_delete.connect(_anybody, sender=Session, dispatch_uid="wrd-changes-session-delete")
    post_save.connect(_policy_saved, sender=Policy, dispatch_uid="wrd-changes-policy-save")
    post_delete.connect(_policy_saved, sender=Policy, dispatch_uid="wrd-changes-policy-delete")
    m2m_changed.connect(_anybody, sender=Policy.profiles.through, dispatch_uid="wrd-changes-policy-profiles")
    post_save.connect(_anybody, sender=DesktopProfile, dispatch_uid="wrd-changes-profile-save")
    post_delete.connect(_anybody, sender=DesktopProfile, dispatch_uid="wrd-changes-profile-delete")
