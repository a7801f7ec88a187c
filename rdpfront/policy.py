"""What one user's connection may do, as the console's policy says at login (the server asks
``connection_policy(username)`` once the password is good): whether RDP is allowed at all,
which ways the clipboard may go, and the client's shared folders (off, read-only, read-write).

A refused login ends with a Set Error Info PDU of ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES
([MS-RDPBCGR 2.2.5.1.1]), which clients show as "you do not have the privileges".
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class DriveAccess(enum.StrEnum):
    OFF = "off"  # the client's folders are not shown in the session
    READ = "read"  # shown; the session may read them, never change them
    READ_WRITE = "read_write"


@dataclass(frozen=True)
class ConnectionPolicy:
    rdp: bool = True
    refusal: str = ""  # why, when ``rdp`` is False (for the log)
    clipboard_to_desktop: bool = True
    clipboard_from_desktop: bool = True
    drives: DriveAccess = DriveAccess.READ_WRITE


class AccessRefused(Exception):
    """The user's policy refuses them this door (RDP)."""


# user name -> the connection's policy
PolicyLookup = Callable[[str], Awaitable[ConnectionPolicy]]
