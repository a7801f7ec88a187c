"""One error body for the whole API (docs/api.md):

    {"detail": "<one readable sentence>", "code": "<machine code>", "fields": {"<field>": ["<message>", ...]}}

``fields`` is there only for input errors (400), one entry per field at fault (nested fields
dotted: ``owner.name``; list items by index: ``items.0``). Errors raised by services as Django
``ValidationError`` / ``PermissionDenied`` come out the same way as DRF's own."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

NON_FIELD_KEYS = ("non_field_errors", "__all__", "detail")


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix] = [str(item) for item in detail]
        else:
            for i, item in enumerate(detail):
                for k, v in _flatten(item, f"{prefix}.{i}" if prefix else str(i)).items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix] = [str(detail)]
    return out


def _first_code(codes) -> str:
    while isinstance(codes, (dict, list)):
        if not codes:
            return "invalid"
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes or "invalid")


def _from_django_validation(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        detail = {key: [str(m) for e in errors for m in e.messages] for key, errors in exc.error_dict.items()}
        code = next((e.code for errors in exc.error_dict.values() for e in errors if e.code), "invalid")
    else:
        detail = list(exc.messages)
        code = next((e.code for e in exc.error_list if e.code), "invalid")
    return exceptions.ValidationError(detail, code=code)


def error_body(detail: str, code: str, fields: dict[str, list[str]] | None = None) -> dict:
    body = {"detail": detail, "code": code}
    if fields:
        body["fields"] = fields
    return body


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = _from_django_validation(exc)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        flat = _flatten(exc.detail)
        general = [m for key in ("", *NON_FIELD_KEYS) for m in flat.pop(key, [])]
        detail = "; ".join(general) if general else "Invalid input: " + "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in flat.items())
        response.data = error_body(detail, _first_code(exc.get_codes()), flat)
    else:
        detail = exc.detail
        if isinstance(detail, (list, dict)):
            detail = "; ".join(m for ms in _flatten(detail).values() for m in ms)
        response.data = error_body(str(detail), _first_code(exc.get_codes()))
    return response


def json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(detail, code), status=status_code)


def not_found(request, exception=None):
    """``handler404``: the API's body under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error(status.HTTP_404_NOT_FOUND, "Not found.", "not_found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    """``handler500``: the API's body under /api/ (no details: they are in the log)."""
    if request.path.startswith("/api/"):
        return json_error(status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal error; it was logged.", "server_error")
    from django.views.defaults import server_error as page

    return page(request)


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error(status.HTTP_400_BAD_REQUEST, "Bad request.", "bad_request")
    from django.views.defaults import bad_request as page

    return page(request, exception)
