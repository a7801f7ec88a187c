"""``Authorization: Token <value>`` (or ``Bearer <value>``) with the hashed API tokens.

A wrong, expired or revoked token is a failed login like a wrong password: it is counted by
the login throttle (django-axes, per source address) and recorded in the audit log, so a
client guessing tokens is locked out as one guessing passwords is (docs/security.md)."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from webconsole.api import services
from webconsole.core.login_throttle import LoginThrottled, _retry_after, lockout_message

KEYWORDS = (b"token", b"bearer")
DOOR = "api-token"


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Give the token after the scheme, with no spaces: "
                                                  "'Authorization: Token <token>'.")
        try:
            value = parts[1].decode("ascii")
        except UnicodeDecodeError:
            value = ""
        http_request = getattr(request, "_request", request)
        from axes.handlers.proxy import AxesProxyHandler

        if AxesProxyHandler.is_locked(http_request):
            raise LoginThrottled(wait=_retry_after(http_request), detail=lockout_message())
        token = services.token_authenticate(value=value, address=client_address(request)) if value else None
        if token is None:
            # The prefix names the token tried (never the secret) in the throttle's records and the audit log.
            shown = value[:12] if value.startswith(f"{services.TOKEN_SCHEME}_") else "(token)"
            http_request.path_info = http_request.path  # axes' "path" of the attempt
            user_login_failed.send(sender=__name__, credentials={"username": shown}, request=http_request,
                                   door=DOOR)
            if getattr(http_request, "axes_locked_out", False):
                raise LoginThrottled(wait=_retry_after(http_request), detail=lockout_message())
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        request.api_token = token
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "webconsole.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <token>` or `Bearer <token>`; make tokens on the console's API tokens page "
                               "or with POST /api/v1/tokens/."}
