"""Celery: broker on the local Redis, one queue per session node."""

from celery.schedules import schedule

from webconsole.config import env

CELERY_BROKER_URL = env.redis_parts()["celery"]
CELERY_TASK_IGNORE_RESULT = True
# A job is acknowledged once it has run, so a worker killed mid-job leaves it queued (Redis
# hands unacknowledged jobs out again after the visibility timeout); the services it calls are
# idempotent, and reconcile settles rows whose job was lost all the same (docs/operations.md).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.env_int("WRD_TASK_VISIBILITY_SECONDS", 300)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "wrd"
CELERY_BEAT_SCHEDULE_FILENAME = str(env.VAR_DIR / "celerybeat-schedule")
# Reconcile and reap run on the node of the beat that schedules them (its own queue).
CELERY_BEAT_SCHEDULE = {
    "reconcile-desktops": {
        "task": "webconsole.desktops.tasks.desktop_reconcile_task",
        "schedule": schedule(env.RECONCILE_SECONDS),
        "options": {"queue": f"wrd.node.{env.NODE}", "expires": 30},
    },
    "reap-idle-desktops": {
        "task": "webconsole.desktops.tasks.desktop_reap_idle_task",
        "schedule": schedule(60),
        "options": {"queue": f"wrd.node.{env.NODE}", "expires": 120},
    },
    "reconcile-recordings": {
        "task": "webconsole.recordings.tasks.recordings_reconcile_task",
        "schedule": schedule(env.RECONCILE_SECONDS),
        "options": {"queue": f"wrd.node.{env.NODE}", "expires": 30},
    },
    "prune-login-failure-logs": {
        "task": "webconsole.core.tasks.login_failure_logs_prune_task",
        "schedule": schedule(24 * 3600),
        "options": {"expires": 3600},
    },
    "prune-audit-log": {
        "task": "webconsole.audit.tasks.audit_prune_task",
        "schedule": schedule(24 * 3600),
        "options": {"expires": 3600},
    },
    "prune-recordings": {
        "task": "webconsole.recordings.tasks.recordings_prune_task",
        "schedule": schedule(3600),
        "options": {"queue": f"wrd.node.{env.NODE}", "expires": 3600},
    },
}
