"""The RDP server's Prometheus series. ``manage.py serve`` runs every part with
``PROMETHEUS_MULTIPROC_DIR`` set, so these are written to files there and the console's
``/metrics`` sums them with its own (docs/operations.md); without it they stay in this process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CLIENTS = Gauge("wrd_rdp_clients", "RDP connections attached to a desktop", multiprocess_mode="livesum")
CONNECTIONS = Counter("wrd_rdp_connections", "RDP connections accepted (before any login)")
BYTES = Counter("wrd_rdp_bytes", "Bytes sent to RDP clients")
FRAMES = Counter("wrd_rdp_frames", "Screen updates sent to RDP clients, by what drew them", ["source"])
FRAMES_BY_SOURCE = {s: FRAMES.labels(s) for s in ("gfx", "bitmap", "login_form")}
