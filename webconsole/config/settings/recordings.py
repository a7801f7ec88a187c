"""Recording desktops (docs/recording.md)."""

from pathlib import Path

from webconsole.config import env

# Where recordings are written (by recorder processes of the service account; not under any
# desktop user's reach), and how long they are kept.
WRD_RECORDINGS_DIR = Path(env.env_str("WRD_RECORDINGS_DIR", str(env.VAR_DIR / "recordings"))).absolute()
WRD_RECORDING_RETENTION_DAYS = env.env_int("WRD_RECORDING_RETENTION_DAYS", 30)
# Record every running desktop (policy), not only those an admin starts a recording of.
WRD_RECORD_ALL_DESKTOPS = env.env_bool("WRD_RECORD_ALL_DESKTOPS", False)
# Owners may watch the recordings of their own desktops (admins always may).
WRD_RECORDING_OWNER_ACCESS = env.env_bool("WRD_RECORDING_OWNER_ACCESS", False)
# A recording is ended past this size (a desktop's host is untrusted and could flood its stream).
WRD_RECORDING_MAX_BYTES = env.env_bytes("WRD_RECORDING_MAX_BYTES", "20G")
