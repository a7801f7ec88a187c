"""How long the lifecycle jobs wait in their queue and how long they run, as Prometheus
histograms (``/metrics``, docs/operations.md). A job is stamped with the time it was published
(a message header); the worker observes the wait when it starts the job and the run time when
the job ends. Jobs published without the stamp (by a process that did not load this module)
count only their run time."""

from __future__ import annotations

import time

from celery.signals import before_task_publish, task_postrun, task_prerun
from prometheus_client import Histogram

HEADER = "wrd_published_at"
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
WAIT = Histogram("wrd_task_wait_seconds", "Seconds a job waited in its queue before a worker started it",
                 ["task"], buckets=BUCKETS)
RUN = Histogram("wrd_task_run_seconds", "Seconds a job ran", ["task"], buckets=BUCKETS)
_started: dict[str, float] = {}


def _short(name: str | None) -> str:
    return (name or "unknown").rsplit(".", 1)[-1]


@before_task_publish.connect(weak=False)
def _stamp(headers: dict | None = None, **kwargs) -> None:
    if headers is not None:
        headers[HEADER] = time.time()


@task_prerun.connect(weak=False)
def _job_started(task_id: str | None = None, task=None, **kwargs) -> None:
    if task is None or task_id is None:
        return
    published = getattr(task.request, HEADER, None)
    if isinstance(published, int | float):
        WAIT.labels(_short(task.name)).observe(max(0.0, time.time() - published))
    _started[task_id] = time.monotonic()


@task_postrun.connect(weak=False)
def _job_ended(task_id: str | None = None, task=None, **kwargs) -> None:
    started = _started.pop(task_id, None) if task_id is not None else None
    if task is not None and started is not None:
        RUN.labels(_short(task.name)).observe(time.monotonic() - started)
