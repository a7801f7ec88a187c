"""Login throttling shared by every door (policy in docs/security.md).

django-axes counts failures through Django's ``authenticate``; this module gives its lockout a
face on each door: a page for the login page and the admin, a JSON 429 for the API (also for
DRF Basic auth, whose failures axes sees on DRF's own request object), and a plain answer for
callers outside HTTP such as the RDP server.
"""

from __future__ import annotations

import logging
import math
import time

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import authentication, exceptions

log = logging.getLogger(__name__)


def account_delay(*, username: str) -> float:
    """Seconds a login to ``username`` waits: none until the name has had as many failures
    within the cool-off (from any addresses) as one address may have, then 1 s doubling with
    each further failure, at most ``WRD_LOGIN_ACCOUNT_DELAY_MAX``."""
    from axes.models import AccessFailureLog
    from django.utils import timezone

    since = timezone.now() - settings.AXES_COOLOFF_TIME
    failures = AccessFailureLog.objects.filter(username=username, attempt_time__gte=since).count()
    over = failures - settings.AXES_FAILURE_LIMIT
    return 0.0 if over < 0 else float(min(2 ** over, settings.WRD_LOGIN_ACCOUNT_DELAY_MAX))


class AccountDelayBackend:
    """An authentication backend that authenticates nobody: it makes a login to a name under
    attack wait (``account_delay``) before the password is checked. Unlike a lockout, the real
    user still gets in, a few seconds later. It has no ``get_user``: sessions are never its."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs) -> None:
        if getattr(request, "account_delay_waited", False):
            return None  # ``check_login``'s caller waited on its own event loop
        if username and (delay := account_delay(username=username)) > 0:
            log.info("login to user=%s waits %.0f s: many recent failures at that name", username, delay)
            time.sleep(delay)
        return None


def failure_logs_prune(*, age_days: int) -> int:
    """Remove the per-failure records older than ``age_days``; how many went."""
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.reset_failure_logs(age_days=age_days)


def lockout_message() -> str:
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return (f"Too many failed logins from your address. Logging in from it is refused for {minutes} "
            f"minute{'s' if minutes != 1 else ''} after the last attempt; an administrator can lift this sooner.")


def _retry_after(request: HttpRequest) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: what a locked-out address is answered, 429 on every door."""
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": lockout_message(), "code": "login_throttled"}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"reason": lockout_message()}, status=429)
    response["Retry-After"] = str(_retry_after(request))
    return response


class LoginThrottled(exceptions.Throttled):
    default_detail = "Too many failed logins from your address."
    default_code = "login_throttled"


class BasicAuthentication(authentication.BasicAuthentication):
    """DRF Basic auth whose lockout is a 429 with a reason, not the "Invalid username/password"
    401 every other failure gets."""

    def authenticate_credentials(self, userid, password, request=None):
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            if request is not None and getattr(request, "axes_locked_out", False):
                raise LoginThrottled(wait=_retry_after(request), detail=lockout_message()) from None
            raise


def check_login(*, username: str, password: str, address: str, door: str):
    """Authenticate a login that did not come over HTTP (the RDP server) under the same throttle:
    ``(user or None, throttled)``. ``address`` is the peer's IP address, ``door`` names the
    entry in the admin's access-attempt records (their "path"). The caller waits out
    ``account_delay`` itself, on its event loop: sleeping here would hold the one thread its
    database calls share."""
    request = login_request(address=address, door=door)
    user = authenticate(request, username=username, password=password)
    return user, bool(getattr(request, "axes_locked_out", False))


def login_request(*, address: str, door: str) -> HttpRequest:
    """The request a login from outside HTTP is authenticated with (see ``check_login``)."""
    request = HttpRequest()
    request.account_delay_waited = True
    request.META["REMOTE_ADDR"] = address
    request.path = request.path_info = request.META["PATH_INFO"] = door
    return request
