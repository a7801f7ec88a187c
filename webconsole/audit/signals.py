"""Audit events from Django's own signals: logins and failed logins through any door that
goes through ``authenticate`` (login page, admin, API Basic and tokens, RDP), logouts, and
every change made in the admin site (its ``LogEntry`` rows)."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from webconsole.audit.services import record

ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


def door_of(request) -> str:
    """Which door a login came through, from the request's path (the RDP server's requests
    carry the path ``rdp``: ``login_throttle.check_login``)."""
    path = getattr(request, "path", "") or ""
    if path.startswith("rdp"):  # a login from outside HTTP names its door as its path (rdp, rdp-nla)
        return path
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "web"


def _address(request) -> str:
    return (getattr(request, "META", None) or {}).get("REMOTE_ADDR", "") if request is not None else ""


@receiver(user_logged_in, dispatch_uid="audit-login")
def _logged_in(sender, request, user, **kwargs) -> None:
    record("login.success", actor=user, address=_address(request), door=door_of(request))


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record("logout", actor=user, address=_address(request), door=door_of(request))


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    name = str((credentials or {}).get("username") or "")
    details = {"door": kwargs.get("door") or door_of(request)}
    if getattr(request, "axes_locked_out", False):
        details["throttled"] = True
    # An NLA login the password alone would have passed: refused by the user's policy, or no
    # stored NT hash to check it with (webconsole/accounts/backends.py).
    for flag, reason in (("nla_denied", "denied"), ("nla_no_hash", "no_hash")):
        if getattr(request, flag, False):
            details["reason"] = reason
    record("login.failed", actor_name=name, address=_address(request), **details)


@receiver(post_save, sender=LogEntry, dispatch_uid="audit-admin-site")
def _admin_change(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    model = instance.content_type.model if instance.content_type_id else ""
    record(ADMIN_ACTIONS.get(instance.action_flag, "admin.change"), actor=instance.user, target_type=model,
           target_id=instance.object_id or "", target_label=instance.object_repr, via="admin site",
           change=instance.get_change_message()[:500])
