"""Reads of the audit log: one filter used by the admins' page, its CSV export and the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from webconsole.audit.models import AuditEvent


class AuditFilterForm(forms.Form):
    """The filters, all optional. ``action``: an exact action or its family (``login`` gives
    ``login.success``, ``login.failed``, ...); ``target``: ``type`` or ``type:id`` or words of
    the target's label; ``since``/``until``: a date or a date and time (UTC), both inclusive."""

    actor = forms.CharField(required=False, max_length=150, help_text="User name, exact.")
    action = forms.CharField(required=False, max_length=64)
    target = forms.CharField(required=False, max_length=255)
    address = forms.CharField(required=False, max_length=64, help_text="Address or its beginning.")
    since = forms.CharField(required=False, max_length=40)
    until = forms.CharField(required=False, max_length=40)

    def _moment(self, name: str, *, end: bool) -> datetime | None:
        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return None
        for field in (forms.DateField(), forms.DateTimeField()):
            try:
                value = field.clean(text)
            except forms.ValidationError:
                continue
            if not isinstance(value, datetime):
                value = datetime.combine(value, time.max if end else time.min)
            if timezone.is_naive(value):
                value = timezone.make_aware(value, timezone.get_current_timezone())
            return value
        raise forms.ValidationError({name: "Give a date (2026-12-31) or a date and time (2026-12-31 17:30)."})

    def clean(self):
        data = super().clean()
        for key in ("actor", "action", "target", "address", "since", "until"):
            value = data.get(key) or ""
            if "\x00" in value:
                self.add_error(key, "Null characters are not allowed.")
                data[key] = ""
        data["since_at"] = self._moment("since", end=False)
        data["until_at"] = self._moment("until", end=True)
        if data["since_at"] and data["until_at"] and data["since_at"] > data["until_at"]:
            raise forms.ValidationError({"until": "The end comes before the beginning."})
        return data


def audit_search(*, actor: str = "", action: str = "", target: str = "", address: str = "",
                 since_at: datetime | None = None, until_at: datetime | None = None, **_) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all()
    if actor:
        qs = qs.filter(actor_name=actor)
    if action:
        qs = qs.filter(Q(action=action) | Q(action__startswith=f"{action}."))
    if target:
        kind, sep, ident = target.partition(":")
        if sep:
            qs = qs.filter(target_type=kind, target_id=ident)
        else:
            qs = qs.filter(Q(target_type=target) | Q(target_label__icontains=target))
    if address:
        qs = qs.filter(address__startswith=address)
    if since_at:
        qs = qs.filter(at__gte=since_at)
    if until_at:
        qs = qs.filter(at__lte=until_at)
    return qs


def audit_actions() -> list[str]:
    """The actions recorded so far, for the page's filter suggestions."""
    return sorted(AuditEvent.objects.order_by().values_list("action", flat=True).distinct())


CSV_COLUMNS = ("id", "at", "actor", "action", "target_type", "target_id", "target_label", "address", "details")


def _cell(text: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ as a formula: a user name a stranger
    typed at the login form must stay text."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_rows(qs: QuerySet[AuditEvent]) -> Iterator[list[str]]:
    """The rows of ``qs`` for a CSV export, read in chunks (the log may be long)."""
    import json

    for e in qs.iterator(chunk_size=2000):
        details = json.dumps(e.details, sort_keys=True, default=str) if e.details else ""
        yield [str(e.pk), e.at.isoformat(), *(_cell(v) for v in (e.actor_name, e.action, e.target_type, e.target_id,
                                                                 e.target_label, e.address, details))]
