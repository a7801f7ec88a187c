"""The REST API against its own OpenAPI schema, fuzzed by schemathesis on a live server:
`manage.py serve` (Daphne, a real Celery worker and beat, Redis, the RDP server) in a var dir
of its own, called with an API token of a staff user. No answer may be a 5xx, and every
answer must be one the schema describes (status code, content type, body, headers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_until
from tests.test_serve import manage, serve_env, start_serve, stop_serve

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance,negative_data_rejection")
MAX_EXAMPLES = 12  # per operation and phase
# One worker: two threads of the same run tripped over each other inside hypothesis's lambda
# descriptions (a runtime error of the fuzzer, not an answer of the API).
MAX_SECONDS = 45  # the token run's own budget (the revoke run: 15 s)

# A staff user and a token whose id no fuzzed path is likely to name (far from the small ids
# and from those of the tokens the run makes): revoking the token the run itself uses would
# turn the rest of the run into 401s. The run's seed is fixed, so this holds run after run.
SETUP = """
import json
from django.contrib.auth.models import Group, User
from webconsole.api.models import ApiToken
from webconsole.api.services import token_create
from webconsole.policies.models import DesktopProfile, Policy
# The run's own user far from the small ids too: a fuzzed password reset or policy of user 1
# would otherwise hit it (and end the Basic-auth run's login, or its desktop).
user = User.objects.create_user("fuzzer", password="fuzzer-pass-123", is_staff=True, id=987_654_000)
# Users, groups and profiles the fuzzed paths name, so that their operations get past the 404
# to their bodies; the DELETE operations name others of their own (1, 2: kept; 3, 4: deleted).
def made(numbers):
    return {
        "users": [User.objects.create_user(f"target{i}", password="target-pass-123").pk for i in numbers],
        "groups": [Group.objects.create(name=f"team{i}").pk for i in numbers],
        "profiles": [DesktopProfile.objects.create(name=f"kiosk{i}", label=f"Kiosk {i}").pk for i in numbers],
    }
targets = made((1, 2)) | {"doomed_" + kind: pks for kind, pks in made((3, 4)).items()}
User.objects.get(username="target1").groups.add(Group.objects.get(name="team1"))
Policy.objects.create(group=Group.objects.get(name="team1"), max_desktops=2, rdp_access=False)
print("TARGETS=" + json.dumps(targets))
made = token_create(user=user, name="schemathesis")
ApiToken.objects.filter(pk=made.token.pk).update(id=987_654_321)
# the tokens the run makes are numbered after the largest id the table has held
spacer = token_create(user=user, name="spacer").token
ApiToken.objects.filter(pk=spacer.pk).update(id=5_000_000_000)
ApiToken.objects.filter(pk=5_000_000_000).delete()
print("TOKEN=" + made.value)
"""
CLEANUP = """
from webconsole.desktops import services
from webconsole.desktops.models import LIVE_STATES, DesktopSession
for session in DesktopSession.objects.filter(state__in=LIVE_STATES):
    services.desktop_stop(session=session)
print("live:", DesktopSession.objects.filter(state__in=LIVE_STATES).count())
"""


# Most cases name a desktop that runs (the one started before the run), so that screenshots,
# files and uploads are fuzzed against a real session host, not only answered 404; likewise
# users, groups and profiles made by SETUP, so that their bodies are fuzzed too (the DELETE
# operations name their own doomed ones). Half the passwords and new user names offered are
# ones the server takes, so that creating a user gets past the password rules.
PATH_IDS = {"path.desktop_id": "live_desktops", "path.user_id": "users", "path.group_id": "groups",
            "path.profile_id": "profiles"}
OPERATIONS = """
[[operations]]
include-operation-id = "user_list_post"

[operations.parameters]
"body.username" = { dictionary = "new_users", probability = 0.5 }

[[operations]]
include-method = "DELETE"

[operations.parameters]
"""


def _config(desktop: int, targets: dict[str, list[int]]) -> str:
    """The run's schemathesis.toml (JSON arrays of numbers and strings are TOML arrays too)."""
    dictionaries = {"live_desktops": [desktop], "passwords": ["Fuzz-pass-2026-a!", "Another-fuzz-pass-7"],
                    "new_users": [f"new.user{i}" for i in range(1, 7)], **targets}
    binding = '"{}" = {{ dictionary = "{}", probability = {} }}\n'
    return ("".join(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n\n"
                    for name, values in dictionaries.items())
            + "[parameters]\n" + binding.format("body.password", "passwords", 0.5)
            + "".join(binding.format(path, name, 0.7) for path, name in PATH_IDS.items())
            + OPERATIONS
            + "".join(binding.format(path, "doomed_" + name, 0.7) for path, name in PATH_IDS.items()
                      if path != "path.desktop_id"))


def _schemathesis(base: str, report: Path, *args: str, desktop: int, targets: dict) -> subprocess.CompletedProcess:
    report.mkdir(parents=True)
    config = report / "schemathesis.toml"
    config.write_text(_config(desktop, targets))
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{base}/api/schema/",
         *args, "--checks", CHECKS,
         "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--phases", "examples,coverage,fuzzing",
         "--request-timeout", "20", "--seed", "1", "--suppress-health-check", "all", "--no-color",
         "--report", "junit,ndjson", "--report-dir", str(report)],
        cwd=report, env=os.environ | {"SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=180)
    (report / "schemathesis.out").write_text(run.stdout + run.stderr)
    return run


def _running_desktop(base: str, token: str) -> int:
    """A desktop of the run's user, started through the API and running."""
    def call(method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    desktop = call("POST", "/api/v1/desktops/start", {"width": 1024, "height": 768})["id"]
    wait_until(lambda: call("GET", f"/api/v1/desktops/{desktop}/")["state"] == "running", 60, 0.5,
               "the desktop to run")
    return desktop


# The operations that take a body, with the answers the run must have had from each: at least
# one accepted body and one refused with field messages.
BODY_OPERATIONS = ("POST /api/v1/users/", "PATCH /api/v1/users/{user_id}/", "POST /api/v1/users/{user_id}/password",
                   "PUT /api/v1/users/{user_id}/policy", "POST /api/v1/groups/", "PATCH /api/v1/groups/{group_id}/",
                   "PUT /api/v1/groups/{group_id}/policy", "POST /api/v1/profiles/",
                   "PATCH /api/v1/profiles/{profile_id}/")


def _answers(report: Path) -> dict[str, dict[int, int]]:
    """Per operation of a run's NDJSON report, how many answers of each status code, counting
    only requests sent with a JSON body."""
    answers: dict[str, dict[int, int]] = {}
    for path in report.glob("ndjson-*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line).get("ScenarioFinished")
            if not event:
                continue
            recorder = event["recorder"]
            for interaction in recorder.get("interactions", {}).values():
                if interaction.get("response") and interaction["request"].get("body") is not None:
                    code = interaction["response"]["status_code"]
                    counts = answers.setdefault(recorder["label"], {})
                    counts[code] = counts.get(code, 0) + 1
    return answers


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_api_keeps_to_its_schema_under_fuzzing(tmp_path: Path) -> None:
    env = serve_env(tmp_path, "apifuzz")
    env["WRD_MAX_SESSIONS_PER_USER"] = "1"  # a fuzzed start runs a real desktop; one at a time
    # Cases with a missing or mangled Authorization header are failed logins: they get their 401
    # here instead of locking the run's address out (the throttle has its own tests).
    env["WRD_LOGIN_FAILURE_LIMIT"] = "1000000"
    assert manage(env, "migrate", "--no-input").returncode == 0
    setup = manage(env, "shell", "-c", SETUP)
    assert setup.returncode == 0, setup.stderr
    token = setup.stdout.split("TOKEN=")[1].split()[0]
    targets = json.loads(setup.stdout.split("TARGETS=")[1].splitlines()[0])
    base = f"http://127.0.0.1:{env['WRD_HTTP_PORT']}"

    serve = start_serve(env, tmp_path / "serve.log")
    try:
        schema = json.loads(urllib.request.urlopen(
            urllib.request.Request(f"{base}/api/schema/", headers={"Accept": "application/json"}), timeout=30).read())
        operations = sum(len(ops) for ops in schema["paths"].values())
        desktop = _running_desktop(base, token)
        started = time.monotonic()
        # Revoking tokens is fuzzed apart, signed in with a password: the token run would
        # otherwise find its own token's id in the token list and revoke it.
        token_run = _schemathesis(base, tmp_path / "token-run", "--header", f"Authorization: Token {token}",
                                  "--exclude-operation-id", "token_revoke", "--max-time", str(MAX_SECONDS),
                                  desktop=desktop, targets=targets)
        revoke_run = _schemathesis(base, tmp_path / "revoke-run", "--auth", "fuzzer:fuzzer-pass-123",
                                   "--include-operation-id", "token_revoke", "--max-time", "15", desktop=desktop,
                                   targets=targets)
        elapsed = time.monotonic() - started
        for run in (token_run, revoke_run):
            assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
            summary = run.stdout[run.stdout.rfind("SUMMARY"):]
            assert " passed" in summary and "failed" not in summary, summary
            assert "Authentication failed" not in summary, summary  # the credentials held to the end
        assert operations >= 20, operations
        for path, op in ((p, o) for p, ops in schema["paths"].items() for o in ops.values()
                         if p.startswith(("/api/v1/users/", "/api/v1/groups/", "/api/v1/profiles/"))):
            if op["operationId"].endswith(("_post", "_put", "_patch")) or op["operationId"] == "user_password":
                assert "requestBody" in op, (path, op["operationId"])
        answers = _answers(tmp_path / "token-run")
        for label in BODY_OPERATIONS:
            counts = answers.get(label, {})
            assert any(200 <= code < 300 for code in counts) and 400 in counts, (label, counts)
        print(f"schemathesis: {operations} operations in {elapsed:.0f} s\n"
              + token_run.stdout[token_run.stdout.rfind("Test cases:"):]
              + "".join(f"{label}: {dict(sorted(answers[label].items()))}\n" for label in BODY_OPERATIONS))
    finally:
        cleanup = manage(env, "shell", "-c", CLEANUP)
        stop_serve(serve)
        assert cleanup.returncode == 0 and "live: 0" in cleanup.stdout, cleanup.stdout + cleanup.stderr
