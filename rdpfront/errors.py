"""Whose fault it is (h11's split): the peer's, or ours."""

from __future__ import annotations


class RdpError(Exception):
    """Base class of every error this package raises on purpose."""


class RemoteProtocolError(RdpError):
    """The peer sent something malformed, truncated, oversized or out of order.

    The driver closes that one connection and logs the message; the server keeps serving
    everyone else. ``error_info`` is the Set Error Info code (MS-RDPBCGR 2.2.5.1.1) to send
    before closing, when one fits.
    """

    def __init__(self, message: str, *, error_info: int | None = None) -> None:
        super().__init__(message)
        self.error_info = error_info


class LocalProtocolError(RdpError):
    """We asked for something the protocol cannot carry, or in a state that forbids it."""
