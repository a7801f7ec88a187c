"""Recording audit events. Every part of the console and the front ends calls ``record`` (or
``async_record`` from asyncio code); a failure to write is logged and never fails the action
being recorded."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, models

from webconsole.audit.models import AuditEvent

log = logging.getLogger(__name__)


def record(action: str, *, actor: Any = None, actor_name: str = "", target: models.Model | None = None,
           target_type: str = "", target_id: Any = "", target_label: str = "", address: str = "",
           **details: Any) -> AuditEvent | None:
    """Add one event. ``actor`` is a user or None; ``target`` a model instance (its ``audit_type``
    or model name, pk and ``str`` become the target fields) or the three ``target_*`` fields given directly; the
    keyword arguments left over are kept as JSON ``details``."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if actor is not None and not actor_name:
        actor_name = actor.get_username()
    if target is not None:
        target_type = target_type or getattr(target, "audit_type", "") or target._meta.model_name
        target_id = target.pk
        target_label = target_label or str(target)
    try:
        return AuditEvent.objects.create(
            actor=actor, actor_name=actor_name[:150], action=action, target_type=target_type[:32],
            target_id=str(target_id)[:64], target_label=target_label[:255], address=(address or "")[:64],
            details=details)
    except DatabaseError:
        log.exception("could not record audit event %s by %s", action, actor_name)
        return None


async_record = sync_to_async(record)


def audit_prune(*, age_days: int) -> int:
    """Remove the events older than ``age_days`` (0 or less keeps everything); how many went."""
    from datetime import timedelta

    from django.utils import timezone

    if age_days <= 0:
        return 0
    deleted, _ = AuditEvent.objects.filter(at__lt=timezone.now() - timedelta(days=age_days)).delete()
    if deleted:
        log.info("audit log pruned: %d events older than %d days", deleted, age_days)
    return deleted
