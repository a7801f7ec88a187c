"""``/api/v1/health/``: is each part the console needs answering, and how fast.

Checks the database (a query), Redis (PING), the Celery workers (a control ping: at least one
worker answers) and the RDP server (a TCP connect to its port). 200 when all answer, 503
otherwise, with each check's status and latency so a load balancer or a person can tell which
part is down. Nothing secret is in the answer, so it needs no login.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import redis
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from webconsole.config import env

TIMEOUT = 2.0  # seconds each check may take


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "answers"


def _redis() -> str:
    client = redis.Redis.from_url(env.redis_parts()["url"], socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()
    return "answers"


def _celery() -> str:
    from webconsole.celery import app

    replies = app.control.ping(timeout=TIMEOUT) or []
    if not replies:
        raise RuntimeError("no worker answered")
    return f"{len(replies)} worker(s) answered"


def _rdp() -> str:
    host = "127.0.0.1" if env.RDP_HOST in ("0.0.0.0", "") else "::1" if env.RDP_HOST == "::" else env.RDP_HOST
    with socket.create_connection((host, env.RDP_PORT), timeout=TIMEOUT):
        pass
    return f"accepts on port {env.RDP_PORT}"


CHECKS: dict[str, Callable[[], str]] = {"database": _database, "redis": _redis, "celery": _celery, "rdp": _rdp}


def run_checks() -> dict[str, dict]:
    results = {}
    for name, check in CHECKS.items():
        start = time.monotonic()
        try:
            detail, ok = check(), True
        except Exception as exc:  # any failure of that part is its status, not ours
            detail, ok = f"{type(exc).__name__}: {exc}"[:200], False
        results[name] = {"status": "ok" if ok else "down", "latency_ms": round((time.monotonic() - start) * 1000, 1),
                         "detail": detail}
    return results


def health_report() -> tuple[dict, int]:
    checks = run_checks()
    ok = all(c["status"] == "ok" for c in checks.values())
    return {"status": "ok" if ok else "degraded", "checks": checks}, 200 if ok else 503


@require_GET
def health(request):
    body, status = health_report()
    return JsonResponse(body, status=status)


class HealthCheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "down"])
    latency_ms = serializers.FloatField()
    detail = serializers.CharField()


class HealthApi(APIView):
    """Each part the console needs, with its status and latency: 200 when all answer, 503 otherwise."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "degraded"])
        checks = serializers.DictField(child=HealthCheckSerializer(), help_text="By part: database, redis, celery, rdp")

    @extend_schema(responses={200: OutputSerializer, 503: OutputSerializer})
    def get(self, request):
        body, status = health_report()
        return Response(body, status=status)
