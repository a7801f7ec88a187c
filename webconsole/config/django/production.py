"""Production settings: everything from the environment, secure cookies (the console is meant to
be reached over TLS: its own, WRD_CONSOLE_TLS, or a proxy's, WRD_TRUST_X_FORWARDED_PROTO)."""

from webconsole.config import env
from webconsole.config.django.base import *  # noqa: F403

DEBUG = False
SESSION_COOKIE_SECURE = env.env_bool("WRD_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = [o for o in env.env_str("WRD_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
