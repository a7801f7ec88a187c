"""Every environment variable WRD reads, in one place (documented in README.md)."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_number(name: str, default, kind, what: str):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return kind(value)
    except ValueError:
        raise SystemExit(f"{name} must be {what}, got {value!r}") from None


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_bytes(name: str, default: str) -> int:
    """A size such as ``2G``, ``512M`` or ``1048576`` (bytes); 0 means no limit."""
    value = (os.environ.get(name) or default).strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    try:
        if value and value[-1] in units:
            return int(float(value[:-1]) * units[value[-1]])
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a size such as 2G or 512M, got {os.environ.get(name)!r}") from None


def env_range(name: str, default: tuple[int, int]) -> tuple[int, int]:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        low, high = (int(part) for part in value.split("-"))
    except ValueError:
        raise SystemExit(f"{name} must look like 200000-299999, got {value!r}") from None
    if not 1000 <= low <= high < 2**31 - 1:
        raise SystemExit(f"{name} must be a range of uids from 1000 up, got {value!r}")
    return low, high


def env_pairs(name: str) -> dict[str, str]:
    """``NAME=VALUE NAME2='a value'`` (shell quoting) as a dict."""
    import shlex

    pairs = {}
    for item in shlex.split(os.environ.get(name, "")):
        key, sep, value = item.partition("=")
        if not sep or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise SystemExit(f"{name} must hold NAME=VALUE pairs, got {item!r}")
        pairs[key] = value
    return pairs


def env_size(name: str, default: tuple[int, int]) -> tuple[int, int]:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        w, h = value.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise SystemExit(f"{name} must look like 1920x1080, got {value!r}") from None


VAR_DIR = Path(env_str("WRD_VAR_DIR", str(BASE_DIR / "var"))).absolute()
DEBUG = env_bool("WRD_DEBUG", False)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
REDIS_URL = env_str("REDIS_URL", f"unix://{VAR_DIR / 'run' / 'redis.sock'}")
HTTP_HOST = env_str("WRD_HTTP_HOST", "127.0.0.1")
HTTP_PORT = env_int("WRD_HTTP_PORT", 8000)
# The console serves HTTPS itself (console-cert.pem + console-key.pem in WRD_TLS_DIR, made
# self-signed if absent), or sits behind a TLS proxy whose X-Forwarded-Proto is then trusted.
CONSOLE_TLS = env_bool("WRD_CONSOLE_TLS", False)
TRUST_X_FORWARDED_PROTO = env_bool("WRD_TRUST_X_FORWARDED_PROTO", False)
HTTP_SCHEME = "https" if CONSOLE_TLS else "http"
RDP_HOST = env_str("WRD_RDP_HOST", "0.0.0.0")
RDP_PORT = env_int("WRD_RDP_PORT", 3389)
RDP_GFX = env_bool("WRD_RDP_GFX", True)
RDP_H264 = env_bool("WRD_RDP_H264", True)
RDP_RECONNECT_SECONDS = env_int("WRD_RDP_RECONNECT_SECONDS", 300)
CLIPBOARD_MAX_FILE_BYTES = env_bytes("WRD_CLIPBOARD_MAX_FILE_BYTES", "1G")  # files pasted from an RDP client, per copy
ALLOWED_HOSTS = [h for h in env_str("WRD_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h]
NODE = env_str("WRD_NODE", socket.gethostname())
# Seconds between reconcile rounds (Celery beat); reconcile spreads its host questions by it.
RECONCILE_SECONDS = env_int("WRD_RECONCILE_SECONDS", 5)
DEFAULT_SIZE = env_size("WRD_DEFAULT_SIZE", (1280, 800))
MIN_SIZE = env_size("WRD_MIN_SIZE", (320, 240))
MAX_SIZE = env_size("WRD_MAX_SIZE", (1920, 1200))
MAX_SESSIONS_PER_USER = env_int("WRD_MAX_SESSIONS_PER_USER", 2)
IDLE_TIMEOUT = env_int("WRD_IDLE_TIMEOUT", 4 * 3600)
SESSION_STARTUP = env_str("WRD_SESSION_STARTUP", "")
SESSION_WAYLAND = env_bool("WRD_SESSION_WAYLAND", True)
RUNTIME_ROOT = Path(env_str(
    "WRD_RUNTIME_ROOT",
    f"/dev/shm/wrd-{os.getuid()}" if os.access("/dev/shm", os.W_OK) else f"/tmp/wrd-{os.getuid()}",
))
# Login throttling on every door (docs/security.md): failures per source address, cool-off.
LOGIN_FAILURE_LIMIT = env_int("WRD_LOGIN_FAILURE_LIMIT", 10)
LOGIN_COOLOFF = env_int("WRD_LOGIN_COOLOFF", 15 * 60)
LOGIN_FAILURE_LOG_DAYS = env_int("WRD_LOGIN_FAILURE_LOG_DAYS", 30)
LOGIN_ACCOUNT_DELAY_MAX = env_int("WRD_LOGIN_ACCOUNT_DELAY_MAX", 10)
TLS_DIR = Path(env_str("WRD_TLS_DIR", str(VAR_DIR / "tls")))
# NLA (CredSSP) on the RDP server: off, offer (to clients that ask), require (docs/rdp-server.md).
RDP_NLA = env_str("WRD_RDP_NLA", "offer").strip().lower()
if RDP_NLA not in ("off", "offer", "require"):
    raise SystemExit(f"WRD_RDP_NLA must be off, offer or require, got {RDP_NLA!r}")
# Which channel carries sound to RDP clients: auto, static or dvc (docs/audio.md).
RDP_SOUND_TRANSPORT = env_str("WRD_RDP_SOUND_TRANSPORT", "auto").strip().lower()
if RDP_SOUND_TRANSPORT not in ("auto", "static", "dvc"):
    raise SystemExit(f"WRD_RDP_SOUND_TRANSPORT must be auto, static or dvc, got {RDP_SOUND_TRANSPORT!r}")
# Fernet keys that encrypt the NT hashes NLA needs, comma-separated: the first encrypts, all
# decrypt (rotate with `manage.py rotate_credential_keys`). Empty: a key derived from the secret key.
CREDENTIAL_KEYS = [k.strip() for k in env_str("WRD_CREDENTIAL_KEYS", "").split(",") if k.strip()]

# Who desktops run as: WRD's own Unix accounts when it runs as root (see docs/security.md).
UID_RANGE = env_range("WRD_UID_RANGE", (200000, 299999))
HOME_ROOT = Path(env_str("WRD_HOME_ROOT", "/var/lib/wrd/home"))
ACCOUNT_PREFIX = env_str("WRD_ACCOUNT_PREFIX", "wrd-")
SERVICE_GROUP = env_str("WRD_SERVICE_GROUP", "wrd")
SESSION_MEMORY = env_bytes("WRD_SESSION_MEMORY", "4G")
SESSION_CPUS = env_float("WRD_SESSION_CPUS", 0.0)
SESSION_PIDS = env_int("WRD_SESSION_PIDS", 2048)
SESSION_ENV = env_pairs("WRD_SESSION_ENV")

# Files between browsers and desktops (docs/files.md): which ways, and how big an upload may be.
FILE_TRANSFER_WAYS = {"on": ("upload", "download"), "off": (), "upload": ("upload",), "download": ("download",)}
FILE_TRANSFER = env_str("WRD_FILE_TRANSFER", "on").strip().lower()
if FILE_TRANSFER not in FILE_TRANSFER_WAYS:
    raise SystemExit(f"WRD_FILE_TRANSFER must be one of {', '.join(FILE_TRANSFER_WAYS)}, got {FILE_TRANSFER!r}")
UPLOAD_MAX_BYTES = env_bytes("WRD_UPLOAD_MAX_BYTES", "2G")


def secret_key() -> str:
    """WRD_SECRET_KEY, or one generated on first use and kept in the var directory."""
    if key := os.environ.get("WRD_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key
    except FileExistsError:  # pragma: no cover - raced with another process
        return path.read_text().strip()


def redis_parts() -> dict:
    """REDIS_URL as what each client wants: redis-py URL, Celery broker URL, Channels host."""
    url = urlparse(REDIS_URL)
    if url.scheme == "unix":
        return {
            "url": REDIS_URL,
            "celery": f"redis+socket://{url.path}",
            "channels": {"address": f"unix://{url.path}"},
            "socket": url.path,
        }
    return {"url": REDIS_URL, "celery": REDIS_URL, "channels": {"address": REDIS_URL}, "socket": None}
