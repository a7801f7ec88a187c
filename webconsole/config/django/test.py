"""Settings for the test suite: a file SQLite database that a real Celery worker can share."""

import os

from webconsole.config.django.base import *  # noqa: F401,F403
from webconsole.config.django.base import DATABASES

# pytest-django creates the test database under this name; tests hand the same path to
# the Celery worker process they start (DATABASE_URL), so both see the same rows.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("WRD_TEST_DB", str(DATABASES["default"]["NAME"]) + ".test")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
