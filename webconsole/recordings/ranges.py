"""HTTP byte ranges (RFC 9110 14.1.2) for serving a recording to a <video> element, which
fetches the file in pieces and seeks by asking for other pieces. One range per request, what
media players ask for; anything else is answered with the whole file or 416."""

from __future__ import annotations

import re

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class UnsatisfiableRange(ValueError):
    """A well-formed range outside the file (answered 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte positions (inclusive) of a ``Range`` header against a file of
    ``size`` bytes; None to send the whole file (no header, a malformed one, several ranges);
    ``UnsatisfiableRange`` when it selects nothing of the file."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange(header)
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored, the whole file
    if start >= size:
        raise UnsatisfiableRange(header)
    return start, min(int(last) if last else size - 1, size - 1)
