"""Live thumbnails of desktops for the dashboard.

One host screenshot per desktop per WRD_THUMBNAIL_SECONDS serves every dashboard open at the
time, whichever daphne process serves it: the scaled JPEG is kept in Django's cache (Redis,
``webconsole/config/settings/cache.py``) under the desktop, its size, the thumbnail's width
and the time bucket, for two periods; a short lock (an atomic ``add``, SET NX) makes the
requests of one bucket, from any process, wait for the one that asks the host instead of all
asking it. The host sends a PNG of the screen; Pillow scales it (``reduce`` then a bicubic
resample) and writes a JPEG of a few KB. Should Redis not answer, each request asks the host
itself (logged), so the dashboard still shows pictures.
"""

from __future__ import annotations

import io
import logging
import time

from django.conf import settings
from django.core.cache import cache
from PIL import Image
from redis.exceptions import RedisError

from compositor import messages
from compositor.client import HostError
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.desktops.services import host_client_for

log = logging.getLogger(__name__)

LOCK_SECONDS = 5
WAIT_STEP = 0.05


def bucket(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // max(1, settings.WRD_THUMBNAIL_SECONDS))


def _key(session: DesktopSession, b: int | str) -> str:
    """Per desktop and size: a resized desktop's thumbnail is never one of its former size."""
    return f"thumb:{session.pk}:{session.width}x{session.height}:w{settings.WRD_THUMBNAIL_WIDTH}:{b}"


def scale_png(png: bytes, width: int) -> bytes:
    """A JPEG at most ``width`` pixels wide of the PNG screenshot."""
    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGB")
        if image.width > width:
            factor = image.width // (width * 2)
            if factor > 1:
                image = image.reduce(factor)
            height = max(1, round(image.height * width / image.width))
            image = image.resize((width, height), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=75, optimize=True)
        return out.getvalue()


def _take(session: DesktopSession) -> bytes | None:
    try:
        with host_client_for(session, timeout=5) as client:
            reply = client.call(messages.Screenshot())
    except HostError as exc:
        log.info("thumbnail: host unreachable desktop=%s: %s", session.pk, exc)
        return None
    return scale_png(reply.png, settings.WRD_THUMBNAIL_WIDTH)


def thumbnail(session: DesktopSession) -> bytes | None:
    """The desktop's thumbnail of the current bucket (JPEG), None when it has none to show."""
    if session.state != DesktopState.RUNNING:
        return None
    try:
        return _cached(session)
    except RedisError as exc:
        log.warning("thumbnail: cache unreachable, asking the host directly desktop=%s: %s", session.pk, exc)
        return _take(session)


def _cached(session: DesktopSession) -> bytes | None:
    key = _key(session, bucket())
    if (data := cache.get(key)) is not None:
        return data
    lock = f"{key}:lock"
    if not cache.add(lock, 1, LOCK_SECONDS):
        # Someone is asking the host for this bucket now: wait for theirs, else show the last one.
        deadline = time.monotonic() + LOCK_SECONDS
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP)
            if (data := cache.get(key)) is not None:
                return data
        return cache.get(_key(session, "last"))
    try:
        data = _take(session)
        if data is None:
            return cache.get(_key(session, "last"))
        period = max(1, settings.WRD_THUMBNAIL_SECONDS)
        cache.set(key, data, period * 2)
        cache.set(_key(session, "last"), data, 3600)
        return data
    finally:
        cache.delete(lock)
