"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): check they are sound."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_parses_and_names_every_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "rdp", "redis", "postgres"} <= set(services)
    for name in ("web", "worker", "beat", "rdp"):
        service = services[name]
        assert service["build"] == "." and service["init"] is True
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
        assert "wrd-sessions:/run/wrd/sessions" in service["volumes"]
    assert "celery" in services["worker"]["command"] and "beat" in services["beat"]["command"]
    assert services["worker"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_installs_what_sessions_need():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("xvfb", "xauth", "openbox", "xterm", "x11-xserver-utils"):
        assert package in dockerfile
    assert "requirements.txt" in dockerfile


def test_production_settings_load_from_environment(monkeypatch):
    import importlib

    monkeypatch.setenv("WRD_CSRF_TRUSTED_ORIGINS", "https://wrd.example.org")
    module = importlib.import_module("webconsole.config.django.production")
    module = importlib.reload(module)
    assert module.DEBUG is False
    assert module.CSRF_TRUSTED_ORIGINS == ["https://wrd.example.org"]
