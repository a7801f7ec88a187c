"""Settings for the test suite: an isolated environment, a file SQLite database that a real
Celery worker process can share."""

import os

from webconsole.config.testenv import ensure_test_environment

ensure_test_environment()

from webconsole.config.django.base import *  # noqa: E402, F403
from webconsole.config.django.base import DATABASES  # noqa: E402

# pytest-django creates the test database under this name; tests hand the same path to
# the Celery worker process they start (DATABASE_URL), so both see the same rows.
DATABASES["default"]["TEST"] = {"NAME": os.environ["WRD_TEST_DB"]}
PASSWORD_HASHERS = ["webconsole.accounts.hashers.MD5NtHashNotingHasher",
                    "django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests call reconcile once and look at what it recorded: every round asks the hosts.
WRD_HOST_STATUS_SECONDS = 0
