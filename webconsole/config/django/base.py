"""Django settings of the web console. Integrations live in config/settings/."""

import dj_database_url

from webconsole.config import env
from webconsole.config.settings.api import *  # noqa: F403
from webconsole.config.settings.axes import *  # noqa: F403
from webconsole.config.settings.cache import *  # noqa: F403
from webconsole.config.settings.celery import *  # noqa: F403
from webconsole.config.settings.channels import *  # noqa: F403
from webconsole.config.settings.dashboard import *  # noqa: F403
from webconsole.config.settings.recordings import *  # noqa: F403
from webconsole.config.settings.security import *  # noqa: F403
from webconsole.config.settings.wrd import *  # noqa: F403

BASE_DIR = env.BASE_DIR
SECRET_KEY = env.secret_key()
DEBUG = env.DEBUG
ALLOWED_HOSTS = env.ALLOWED_HOSTS
CSRF_TRUSTED_ORIGINS = [f"{env.HTTP_SCHEME}://{h}:{env.HTTP_PORT}" for h in ("127.0.0.1", "localhost")]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # only for its table: its tokens were moved to webconsole.api (hashed)
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "channels",
    "csp",
    "webconsole.core",
    "webconsole.desktops",
    "webconsole.accounts",
    "webconsole.viewer",
    "webconsole.recordings",
    "webconsole.audit",
    "webconsole.sharing",
    "webconsole.dashboard",
    "webconsole.policies",
    "webconsole.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last, so it sees the lockout flag the login (which ran inside the view) left on the request
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out address before any password check
    "webconsole.core.login_throttle.AccountDelayBackend",  # slows guesses at one name from many addresses
    # Django's ModelBackend, storing the NT hash NLA needs at a password login when it lacks one;
    # a wrong password ends the chain there (the ModelBackend below would only check it again)
    "webconsole.accounts.backends.PasswordBackend",
    "webconsole.accounts.backends.NtlmBackend",  # NLA logins over RDP (webconsole/desktops/rdp_nla.py)
    # listed so that sessions made by it stay valid (Django checks a session's backend is listed)
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "webconsole.urls"
ASGI_APPLICATION = "webconsole.asgi.application"
WSGI_APPLICATION = "webconsole.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(env.DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    env.VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker, beat, rdp) share the file: wait for locks, don't fail.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's default hashers, the first also noting the NT hash NLA needs (webconsole/accounts/hashers.py)
PASSWORD_HASHERS = [
    "webconsole.accounts.hashers.PBKDF2NtHashNotingHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve from static/ directly too, so a fresh edit needs no collectstatic

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "desktops:list"
LOGOUT_REDIRECT_URL = "login"

# REST_FRAMEWORK and SPECTACULAR_SETTINGS: config/settings/api.py

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
