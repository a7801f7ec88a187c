"""Restart through the API with a real Celery worker: the same desktop (id, owner, size, name)
comes back running with a new session host, and each step is in the audit log."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.conftest import wait_until
from webconsole.audit.models import AuditEvent
from webconsole.desktops import services
from webconsole.desktops.models import DesktopSession, DesktopState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow
def test_a_running_desktop_restarts_in_place(celery_worker):
    user = User.objects.create_user("restarter")
    api = APIClient(REMOTE_ADDR="192.0.2.44")
    api.force_authenticate(user)
    desktop = api.post("/api/v1/desktops/start", {"width": 1024, "height": 700, "name": "work"}, format="json")
    assert desktop.status_code == 202
    pk = desktop.json()["id"]

    def state() -> DesktopSession:
        return DesktopSession.objects.get(pk=pk)

    try:
        first = wait_until(lambda: (d := state()).state == DesktopState.RUNNING and d, 60, 0.3, "the desktop to run")
        answer = api.post(f"/api/v1/desktops/{pk}/restart")
        assert answer.status_code == 202 and answer.json()["state"] == "stopping"
        again = wait_until(lambda: (d := state()).state == DesktopState.RUNNING and d.host_pid != first.host_pid
                           and d, 60, 0.3, "the desktop to run again")
        assert (again.pk, again.owner_id, again.width, again.height, again.name) == (pk, user.pk, 1024, 700, "work")
        assert api.get(f"/api/v1/desktops/{pk}/screenshot.png").status_code == 200
        assert DesktopSession.objects.filter(owner=user).count() == 1

        actions = list(AuditEvent.objects.filter(target_type="desktop", target_id=str(pk)).order_by("id")
                       .values_list("action", "actor_name", "address"))
        assert actions == [("desktop.create", "restarter", "192.0.2.44"), ("desktop.start", "", ""),
                           ("desktop.restart", "restarter", "192.0.2.44"), ("desktop.stopped", "", ""),
                           ("desktop.start", "", "")]
    finally:
        services.desktop_stop(session=state())
