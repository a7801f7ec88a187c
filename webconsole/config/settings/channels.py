"""Channels: the browser viewer's WebSockets, with Redis as the channel layer."""

from webconsole.config import env

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [env.redis_parts()["channels"]]},
    }
}
