"""The Celery app: lifecycle jobs for desktop sessions."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webconsole.config.django.base")

app = Celery("webconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
