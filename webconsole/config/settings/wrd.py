"""WRD's own settings: session policy and where session hosts live."""

from webconsole.config import env

WRD_NODE = env.NODE
WRD_DEFAULT_SIZE = env.DEFAULT_SIZE
WRD_MIN_SIZE = env.MIN_SIZE
WRD_MAX_SIZE = env.MAX_SIZE
WRD_MAX_SESSIONS_PER_USER = env.MAX_SESSIONS_PER_USER
WRD_IDLE_TIMEOUT = env.IDLE_TIMEOUT
WRD_SESSION_STARTUP = env.SESSION_STARTUP
WRD_SESSION_WAYLAND = env.SESSION_WAYLAND
WRD_RUNTIME_ROOT = env.RUNTIME_ROOT
WRD_LOG_DIR = env.VAR_DIR / "log"
WRD_HOST_START_TIMEOUT = env.env_int("WRD_HOST_START_TIMEOUT", 30)
# Reconcile settles rows whose job was lost: a `requested` row older than this is queued again
# once, then failed; a `stopping` row whose host still runs this long after its stop is stopped again.
WRD_REQUESTED_DEADLINE = env.env_int("WRD_REQUESTED_DEADLINE", 120)
WRD_STOP_RETRY_SECONDS = env.env_int("WRD_STOP_RETRY_SECONDS", 30)
# Reconcile asks a running desktop's host for its size and activity once in this many seconds
# (each desktop in its own turn), not at every round: the question wakes the host, the only
# wake-up an idle desktop still has (docs/performance.md). 0: at every round.
WRD_HOST_STATUS_SECONDS = env.env_int("WRD_HOST_STATUS_SECONDS", 60)
WRD_RECONCILE_SECONDS = env.RECONCILE_SECONDS  # the beat schedule's period (settings/celery.py)
WRD_HTTP_HOST = env.HTTP_HOST
WRD_HTTP_PORT = env.HTTP_PORT
WRD_RDP_HOST = env.RDP_HOST
WRD_RDP_PORT = env.RDP_PORT
WRD_RDP_GFX = env.RDP_GFX
WRD_RDP_H264 = env.RDP_H264
# Seconds an RDP client's auto-reconnect cookie outlives its dropped connection.
WRD_RDP_RECONNECT_SECONDS = env.RDP_RECONNECT_SECONDS
WRD_CLIPBOARD_MAX_FILE_BYTES = env.CLIPBOARD_MAX_FILE_BYTES
WRD_TLS_DIR = env.TLS_DIR
WRD_RDP_NLA = env.RDP_NLA
WRD_RDP_SOUND_TRANSPORT = env.RDP_SOUND_TRANSPORT
WRD_CREDENTIAL_KEYS = env.CREDENTIAL_KEYS  # never logged: docs/security.md
WRD_REDIS = env.redis_parts()
WRD_UID_RANGE = env.UID_RANGE
WRD_HOME_ROOT = env.HOME_ROOT
WRD_ACCOUNT_PREFIX = env.ACCOUNT_PREFIX
WRD_SERVICE_GROUP = env.SERVICE_GROUP
WRD_SESSION_MEMORY = env.SESSION_MEMORY
WRD_SESSION_CPUS = env.SESSION_CPUS
WRD_SESSION_PIDS = env.SESSION_PIDS
WRD_SESSION_ENV = env.SESSION_ENV
# Files between browsers and desktops (docs/files.md): the ways allowed ("upload", "download"),
# the largest upload (bytes; 0: no limit) and the largest request body of an upload's chunk.
WRD_FILE_TRANSFER = env.FILE_TRANSFER_WAYS[env.FILE_TRANSFER]
WRD_UPLOAD_MAX_BYTES = env.UPLOAD_MAX_BYTES
WRD_UPLOAD_CHUNK_BYTES = env.env_bytes("WRD_UPLOAD_CHUNK_BYTES", "8M")
