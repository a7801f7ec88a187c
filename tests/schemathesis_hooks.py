"""schemathesis hooks for the API fuzz run (``SCHEMATHESIS_HOOKS=tests.schemathesis_hooks``):
an upload's chunk (``application/offset+octet-stream``) is sent as raw bytes, like any
``application/octet-stream`` body."""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
