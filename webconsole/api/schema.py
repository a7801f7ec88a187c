"""OpenAPI schema (drf-spectacular): only ``/api/v1/`` is described (the unversioned
``/api/`` mount is the same views, kept for older clients), and every operation lists the
error answers it can give, all with the one error body of ``webconsole.api.errors``."""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="A readable sentence saying what went wrong.")
    code = serializers.CharField(help_text="A machine-readable code: not_found, invalid, permission_denied, ...")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="Input errors only: messages by field name.")


ERROR = OpenApiResponse(ErrorSerializer, description="See the error body in docs/api.md.")
ERROR_DESCRIPTIONS = {
    400: "Invalid input (messages by field) or an action the object's state does not allow.",
    401: "No credentials, or wrong ones.",
    403: "Signed in, but not allowed (staff only).",
    404: "No such object, or another user's.",
    405: "Method not allowed.",
    406: "The Accept header asks for a type the endpoint does not give.",
    409: "The object's state does not allow it now.",
    415: "Unsupported media type.",
    429: "Too many failed logins from this address.",
}


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        """A nested ``InputSerializer`` of ``DesktopResizeApi`` is ``DesktopResizeInput``: the
        outer class names it, so the many nested serializers of one name do not collide."""
        cls = serializer if isinstance(serializer, type) else type(serializer)
        if "." in cls.__qualname__:
            return "".join(part.removesuffix("Api") for part in cls.__qualname__.split("."))
        return super().get_serializer_name(serializer, direction)

    def get_operation_id(self) -> str:
        """From the view's class: ``DesktopRestartApi`` is ``desktop_restart``; a class with
        several methods adds the method (``upload_patch``)."""
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("Api")).lower()
        methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(self.view, m)]
        return name if len(methods) == 1 else f"{name}_{self.method.lower()}"

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = {400, 404, 405, 406}
        permission_classes = getattr(self.view, "permission_classes", [])
        if not any(p is AllowAny for p in permission_classes):
            codes |= {401, 403, 429}
        codes |= set(getattr(self.view, "error_codes", ()))
        for code in sorted(codes):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS.get(code, "Error.")), str(code))
        return responses


def only_v1(endpoints, **kwargs):
    """Preprocessing hook: describe the versioned mount only."""
    return [e for e in endpoints if e[0].startswith("/api/v1/")]


class WrdBasicScheme(OpenApiAuthenticationExtension):
    """The console's Basic auth (the login throttle's face on DRF's) is HTTP Basic."""

    target_class = "webconsole.core.login_throttle.BasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}
