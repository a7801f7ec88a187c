from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from webconsole.audit.models import AuditEvent
from webconsole.audit.services import record

pytestmark = pytest.mark.django_db


def test_an_event_keeps_its_actor_target_and_details_after_both_are_gone() -> None:
    alice = User.objects.create_user("alice-audit")
    bob = User.objects.create_user("bob-audit")
    event = record("user.disable", actor=alice, target=bob, address="192.0.2.7", reason="left the team")
    alice.delete()
    bob.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor, event.actor_name, event.action) == (None, "alice-audit", "user.disable")
    assert (event.target_type, event.target_label, event.address) == ("user", "bob-audit", "192.0.2.7")
    assert event.details == {"reason": "left the team"}


def test_an_anonymous_actor_is_kept_by_the_name_it_gave() -> None:
    event = record("login.failed", actor=AnonymousUser(), actor_name="mallory", address="198.51.100.1", door="rdp")
    assert (event.actor, event.actor_name, event.details) == (None, "mallory", {"door": "rdp"})


def test_events_about_a_desktop_are_found_by_the_desktop_filter_whoever_records_them() -> None:
    from webconsole.audit.selectors import AuditFilterForm, audit_search
    from webconsole.desktops.models import DesktopSession

    alice = User.objects.create_user("alice-audit")
    desktop = DesktopSession.objects.create(owner=alice, width=800, height=600, node="n")
    record("share.grant", actor=alice, target=desktop, grantee="bob")  # from the model
    record("desktop.start", actor=alice, target_type="desktop", target_id=desktop.pk)  # given directly
    form = AuditFilterForm({"target": f"desktop:{desktop.pk}"})
    assert form.is_valid()
    found = list(audit_search(**form.cleaned_data))
    assert sorted(e.action for e in found) == ["desktop.start", "share.grant"]
    assert {e.target_type for e in found} == {"desktop"}
