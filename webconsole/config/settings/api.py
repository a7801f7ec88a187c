"""The REST API: authentication, errors, paging, the OpenAPI schema (docs/api.md)."""

from webconsole.config import env

REST_FRAMEWORK = {
    # Token first: its scheme is the WWW-Authenticate of a 401 (a session-only API answers
    # 403 to a client that sent no credentials at all).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "webconsole.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "webconsole.core.login_throttle.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON in, JSON out (an upload's chunks are read raw by their own view): one body format
    # to validate, and a form post to the API is a 415, not a guess.
    "DEFAULT_PARSER_CLASSES": ["webconsole.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "webconsole.api.pagination.Pagination",
    "EXCEPTION_HANDLER": "webconsole.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "webconsole.api.schema.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "WRD API",
    "DESCRIPTION": "Desktops, users, tokens and the audit log of a WRD server. "
                   "Errors have one body: {detail, code, fields?}. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "PREPROCESSING_HOOKS": ["webconsole.api.schema.only_v1"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Scripts sign in with a token or Basic; the session cookie is the console's own (it works
    # on the API too, with CSRF) and is not offered to API clients.
    "AUTHENTICATION_WHITELIST": ["webconsole.api.authentication.ApiTokenAuthentication",
                                 "webconsole.core.login_throttle.BasicAuthentication"],
    # Swagger UI from the drf-spectacular-sidecar package: served here, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"TokenStatusEnum": ["active", "expired", "revoked"], "HealthStatusEnum": ["ok", "degraded"],
                            "CheckStatusEnum": ["ok", "down"]},
}

# Audit events older than this many days are removed by a daily beat job (0 keeps them all).
WRD_AUDIT_RETENTION_DAYS = env.env_int("WRD_AUDIT_RETENTION_DAYS", 365)
