"""Shares: who gets in through which grant, expiry, revocation, links, control hand-over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webconsole.audit.models import AuditEvent
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.sharing import selectors, services
from webconsole.sharing.models import Share, ShareRedemption
from webconsole.viewer.selectors import viewer_access

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {name: User.objects.create_user(name, password=f"pw-{name}-1") for name in ("owner", "guest", "third")}


@pytest.fixture
def desktop(people):
    return DesktopSession.objects.create(owner=people["owner"], width=800, height=600, state=DesktopState.RUNNING,
                                         started_at=timezone.now())


def _status(user, desktop) -> int:
    return viewer_access(user=user, desktop_id=desktop.pk).status


def test_a_user_share_lets_that_user_in_and_nobody_else(people, desktop):
    assert _status(people["guest"], desktop) == 404
    share = services.share_grant_user(desktop=desktop, by=people["owner"], user=people["guest"])
    access = viewer_access(user=people["guest"], desktop_id=desktop.pk)
    assert (access.status, access.share) == (200, share)
    assert not access.share.control  # view-only unless said
    assert _status(people["third"], desktop) == 404
    event = AuditEvent.objects.get(action="share.grant")
    assert event.actor == people["owner"] and event.details["grantee"] == "guest"


def test_only_the_owner_shares_and_only_a_running_desktop(people, desktop):
    with pytest.raises(PermissionDenied):
        services.share_grant_user(desktop=desktop, by=people["guest"], user=people["third"])
    with pytest.raises(ValidationError):
        services.share_grant_user(desktop=desktop, by=people["owner"], user=people["owner"])
    desktop.state = DesktopState.STOPPED
    desktop.save()
    with pytest.raises(ValidationError, match="only a running desktop"):
        services.share_grant_user(desktop=desktop, by=people["owner"], user=people["guest"])


def test_the_owners_policy_decides_what_they_may_share(people, desktop):
    from webconsole.policies.models import Policy

    Policy.objects.create(user=people["owner"], share_view=True, share_control=False)
    services.share_grant_user(desktop=desktop, by=people["owner"], user=people["guest"])
    with pytest.raises(PermissionDenied, match="control"):
        services.share_grant_user(desktop=desktop, by=people["owner"], user=people["third"], control=True)
    Policy.objects.filter(user=people["owner"]).update(share_view=False)
    with pytest.raises(PermissionDenied):
        services.share_grant_user(desktop=desktop, by=people["owner"], user=people["third"])


def test_a_group_share_follows_membership(people, desktop):
    team = Group.objects.create(name="team")
    people["guest"].groups.add(team)
    services.share_grant_group(desktop=desktop, by=people["owner"], group=team, control=True)
    access = viewer_access(user=people["guest"], desktop_id=desktop.pk)
    assert access.status == 200 and access.share.control
    assert _status(people["third"], desktop) == 404
    share = viewer_access(user=people["guest"], desktop_id=desktop.pk).share
    assert selectors.share_state(share_id=share.pk, user=people["guest"]) == (True, True, "")
    people["guest"].groups.remove(team)
    assert _status(people["guest"], desktop) == 404
    # an open viewer of one who left the group ends at its next recheck
    assert selectors.share_state(share_id=share.pk, user=people["guest"]) == (
        False, False, "This desktop is no longer shared with you.")


def test_expiry_ends_a_share(people, desktop):
    share = services.share_grant_user(desktop=desktop, by=people["owner"], user=people["guest"],
                                      expires_in=timedelta(minutes=5))
    assert _status(people["guest"], desktop) == 200
    Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _status(people["guest"], desktop) == 404
    assert selectors.share_state(share_id=share.pk) == (False, False, "The share expired.")
    with pytest.raises(ValidationError):
        services.share_grant_user(desktop=desktop, by=people["owner"], user=people["guest"],
                                  expires_in=timedelta(days=365))


def test_revoking_ends_a_share_at_once(people, desktop):
    share = services.share_grant_user(desktop=desktop, by=people["owner"], user=people["guest"])
    with pytest.raises(PermissionDenied):
        services.share_revoke(share=share, by=people["guest"])
    services.share_revoke(share=share, by=people["owner"])
    assert _status(people["guest"], desktop) == 404
    assert selectors.share_state(share_id=share.pk)[0] is False
    assert AuditEvent.objects.filter(action="share.revoke", actor=people["owner"]).count() == 1
    services.share_revoke(share=share, by=people["owner"])  # twice: nothing more happens
    assert AuditEvent.objects.filter(action="share.revoke").count() == 1


def test_a_link_is_for_whoever_opens_it_signed_in(people, desktop):
    share, token = services.share_create_link(desktop=desktop, by=people["owner"], expires_in=timedelta(hours=1))
    assert token not in share.token_hash and share.token_hash == services.token_hash(token)
    assert _status(people["guest"], desktop) == 404  # not before opening it
    assert services.share_use_link(token=token, user=people["guest"]) == share
    assert _status(people["guest"], desktop) == 200
    assert _status(people["third"], desktop) == 404
    services.share_use_link(token=token, user=people["guest"])  # again: one redemption
    assert ShareRedemption.objects.filter(share=share).count() == 1
    assert AuditEvent.objects.filter(action="share.use", actor=people["guest"]).count() == 2
    with pytest.raises(ValidationError, match="expiry"):
        services.share_create_link(desktop=desktop, by=people["owner"], expires_in=None)


def test_a_link_after_expiry_or_revocation_is_refused_clearly(people, desktop):
    share, token = services.share_create_link(desktop=desktop, by=people["owner"], expires_in=timedelta(hours=1))
    with pytest.raises(services.ShareRefused) as refused:
        services.share_use_link(token=token + "x", user=people["guest"])
    assert refused.value.status == 404
    Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(services.ShareRefused, match="expired") as refused:
        services.share_use_link(token=token, user=people["guest"])
    assert refused.value.status == 410
    share2, token2 = services.share_create_link(desktop=desktop, by=people["owner"], expires_in=timedelta(hours=1))
    services.share_use_link(token=token2, user=people["third"])
    services.share_revoke(share=share2, by=people["owner"])
    with pytest.raises(services.ShareRefused, match="revoked"):
        services.share_use_link(token=token2, user=people["guest"])
    assert _status(people["third"], desktop) == 404  # its earlier user is out too

    client = Client()
    client.force_login(people["guest"])
    page = client.get(reverse("sharing:link", args=[token2]))
    assert page.status_code == 410 and b"revoked" in page.content
    page = client.get(reverse("sharing:link", args=[token]))
    assert page.status_code == 410 and b"expired" in page.content
    anonymous = Client().get(reverse("sharing:link", args=[token2]))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


def test_a_link_opened_in_the_browser_lands_in_the_viewer(people, desktop):
    _, token = services.share_create_link(desktop=desktop, by=people["owner"], expires_in=timedelta(hours=1))
    client = Client()
    client.force_login(people["guest"])
    response = client.get(reverse("sharing:link", args=[token]))
    assert response.status_code == 302 and response["Location"] == reverse("viewer:view", args=[desktop.pk])
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert page.context["viewer_config"]["view_only"] is True
    assert page.context["viewer_config"]["files"] is None  # the owner's files are not the guest's
    assert client.get(reverse("dashboard:thumbnail", args=[desktop.pk])).status_code != 404


def test_control_is_handed_over_and_back(people, desktop):
    share = services.share_grant_user(desktop=desktop, by=people["owner"], user=people["guest"])
    services.share_set_control(share=share, by=people["owner"], control=True)
    assert viewer_access(user=people["guest"], desktop_id=desktop.pk).share.control
    assert selectors.share_state(share_id=share.pk) == (True, True, "")
    services.share_set_control(share=share, by=people["owner"], control=False)
    assert not viewer_access(user=people["guest"], desktop_id=desktop.pk).share.control
    with pytest.raises(PermissionDenied):
        services.share_set_control(share=share, by=people["guest"], control=True)
    assert [e.details["control"] for e in AuditEvent.objects.filter(action="share.control").order_by("at", "id")] \
        == [True, False]


def test_the_sharing_panel_grants_and_revokes(people, desktop):
    client = Client()
    client.force_login(people["owner"])
    url = reverse("sharing:panel", args=[desktop.pk])
    client.post(url, {"kind": "user", "grantee": "guest", "access": "view", "expires": "60"})
    share = Share.objects.get(desktop=desktop, user=people["guest"])
    assert not share.control and share.expires_at > timezone.now() + timedelta(minutes=59)
    page = client.post(url, {"kind": "link", "access": "control", "expires": "15"}, follow=True)
    link = page.context["new_link"]
    assert client.get(url).context["new_link"] is None  # shown once
    assert "/s/" in link
    token = link.rsplit("/", 1)[1]
    assert Share.objects.get(token_hash=services.token_hash(token)).control
    response = client.post(url, {"kind": "user", "grantee": "nobody-such", "access": "view"}, follow=True)
    assert "no console user named" in response.content.decode()
    client.post(reverse("sharing:revoke", args=[desktop.pk, share.pk]))
    share.refresh_from_db()
    assert share.revoked_at is not None
    other = Client()
    other.force_login(people["guest"])
    assert other.get(url).status_code == 404  # another's panel does not exist for them


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(max_size=200))
def test_any_token_is_refused_cleanly(people, desktop, token):
    """Whatever a browser puts in a share link's path: a refusal, never an error or a grant."""
    with pytest.raises(services.ShareRefused) as refused:
        services.share_use_link(token=token, user=people["guest"])
    assert refused.value.status == 404
    assert _status(people["guest"], desktop) == 404
