"""Names of files moved between a browser and a desktop (docs/files.md).

One rule, used by every side: the console checks a browser's name before it asks the host,
the protocol refuses a name that breaks it (``compositor.messages``), and the host checks it
again before it touches the user's folders (``compositor.files``). A valid name is one path
component that shows as what it is:

- 1..255 bytes of UTF-8 (a Linux file name's limit), no lone surrogates;
- not ``.`` or ``..``, no ``/`` and no ``\\`` (a Windows browser's separator);
- no control characters (C0, DEL, C1), no line or paragraph separators, and no bidirectional
  controls, which make ``exe.txt`` out of ``txt.exe``;
- not the folder where unfinished uploads wait (``PARTIAL_DIR``).
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 255
PARTIAL_DIR = ".wrd-partial"
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
# Bidirectional formatting characters (Unicode's Bidi_Control property).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = frozenset(("Cc", "Cs", "Zl", "Zp"))


class BadName(ValueError):
    """The name is not one this service writes or offers; the message says why."""


def check_name(name: object) -> str:
    """``name`` when it is a valid file name (see the module's docstring), else ``BadName``."""
    if not isinstance(name, str):
        raise BadName(f"a file name must be text, not {type(name).__name__}")
    if not name:
        raise BadName("a file name cannot be empty")
    try:
        size = len(name.encode())
    except UnicodeEncodeError:
        raise BadName("a file name cannot hold a lone surrogate") from None
    if size > MAX_NAME_BYTES:
        raise BadName(f"a file name is at most {MAX_NAME_BYTES} bytes of UTF-8, not {size}")
    if name in (".", ".."):
        raise BadName(f"{name!r} is not a file name")
    if name == PARTIAL_DIR:
        raise BadName(f"{PARTIAL_DIR!r} is reserved")
    for ch in name:
        if ch in "/\\":
            raise BadName(f"a file name cannot hold {ch!r} (one name, no folders)")
        if unicodedata.category(ch) in _REFUSED_CATEGORIES or ch in BIDI_CONTROLS:
            raise BadName(f"a file name cannot hold the control character U+{ord(ch):04X}")
    return name


def is_valid_name(name: object) -> bool:
    try:
        check_name(name)
    except BadName:
        return False
    return True


def check_upload_id(upload: object) -> str:
    if not isinstance(upload, str) or not UPLOAD_ID.fullmatch(upload):
        raise BadName("an upload id is 32 lower-case hex digits")
    return upload


def numbered(name: str, n: int) -> str:
    """``report (n).pdf`` for ``report.pdf``: the name given to the n-th file of the same name,
    shortened at the stem to stay within ``MAX_NAME_BYTES``."""
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    suffix = f" ({n}){ext}"
    budget = MAX_NAME_BYTES - len(suffix.encode())
    while len(stem.encode()) > budget:
        stem = stem[:-1]
    candidate = f"{stem}{suffix}"
    if len(candidate.encode()) > MAX_NAME_BYTES:  # an extension too long to keep
        candidate = f"file ({n})"
    return candidate
