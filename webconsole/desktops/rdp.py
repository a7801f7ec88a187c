"""What the RDP server asks of the console: is this login good, and which desktop is theirs.

The RDP server (rdpfront) knows nothing of Django; `manage.py rdpserver` hands it these two
coroutines. Failed logins are throttled per user name (in this process: the RDP server runs
as one), so password guessing over RDP is as slow as on the login page.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from pathlib import Path

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate as django_authenticate
from django.contrib.auth import get_user_model

from webconsole.desktops import services

log = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW_SECONDS = 300.0


class LoginThrottle:
    """At most ``MAX_FAILURES`` failed logins per user name in ``WINDOW_SECONDS``."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, username: str, now: float) -> deque[float]:
        failures = self._failures[username.lower()]
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked(self, username: str, now: float | None = None) -> bool:
        return len(self._recent(username, now or time.monotonic())) >= self.max_failures

    def failed(self, username: str, now: float | None = None) -> None:
        now = now or time.monotonic()
        self._recent(username, now).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(username.lower(), None)


throttle = LoginThrottle()


async def authenticate(username: str, password: str) -> bool:
    if throttle.blocked(username):
        log.warning("rdp login throttled user=%r", username)
        return False
    user = await sync_to_async(django_authenticate)(username=username, password=password)
    if user is None or not user.is_active:
        throttle.failed(username)
        return False
    throttle.succeeded(username)
    return True


def _attach(username: str, width: int, height: int) -> Path:
    user = get_user_model().objects.get(username=username)
    session = services.desktop_for_remote_login(user=user, width=width, height=height)
    log.info("rdp attach user=%s desktop=%s display=%s", username, session.pk, session.display)
    return session.socket_path


async def attach(username: str, width: int, height: int) -> Path:
    return await sync_to_async(_attach, thread_sensitive=False)(username, width, height)
