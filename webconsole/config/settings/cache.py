"""Django's cache: the Redis that Celery and Channels use, in a database of its own
(WRD_CACHE_REDIS_DB, 1 by default), so that every daphne and worker process shares one cache
(a dashboard thumbnail is taken once per desktop and period whichever process serves it) and a
``cache.clear()`` (FLUSHDB) never touches Celery's queues or the channel layer in database 0."""

from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from webconsole.config import env

WRD_CACHE_REDIS_DB = env.env_int("WRD_CACHE_REDIS_DB", 1)


def cache_url(redis_url: str, db: int) -> str:
    """``redis_url`` naming database ``db``: ``unix:///run/redis.sock?db=1``, ``redis://host:6379/1``."""
    url = urlparse(redis_url)
    if url.scheme == "unix":
        query = dict(parse_qsl(url.query)) | {"db": str(db)}
        return f"unix://{url.path}?{urlencode(query)}"
    return urlunparse(url._replace(path=f"/{db}"))


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": cache_url(env.REDIS_URL, WRD_CACHE_REDIS_DB),
        "KEY_PREFIX": "wrd",
        "TIMEOUT": 300,
    }
}
