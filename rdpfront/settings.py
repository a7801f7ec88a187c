"""The RDP server's settings (``ServerSettings``), one set for every connection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdpfront.clipboard_transfer import DEFAULT_MAX_FILE_BYTES
from rdpfront.host_frames import BITMAP_BYTES_PER_SECOND
from rdpfront.login import LOGIN_TIMEOUT
from rdpfront.reconnect import RECONNECT_LIFETIME, RECONNECT_ROTATION

HANDSHAKE_TIMEOUT = 30.0
MAX_CONNECTIONS = 1000
MAX_UNAUTHENTICATED = 100
MAX_UNAUTHENTICATED_PER_ADDRESS = 10
MAX_LOGIN_FORMS = 20
# A client that reads nothing for this long is gone: close it rather than hold its buffers.
WRITE_STALL_TIMEOUT = 60.0


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 3389
    cert_dir: Path = Path("var/rdp")
    max_width: int = 1920
    max_height: int = 1200
    compress: bool = True
    fastpath_output: bool = True
    # The graphics pipeline (MS-RDPEGFX) for clients that announce it, with H.264 (AVC420, the
    # session host's stream encoded once per session) where the client allows it.
    gfx: bool = True
    gfx_h264: bool = True
    # With H.264, send areas that stopped changing again losslessly (Planar) so text is exact.
    gfx_lossless: bool = True
    # RDP 8.0 bulk compression (rdpfront/zgfx.py) of graphics pipeline messages: frame headers
    # and glyph images repeat from keystroke to keystroke, scrolled text from frame to frame.
    # Frames without H.264 are compressed whole with the C core, other segments up to 8 KB.
    gfx_compression: bool = True
    # NLA (CredSSP): "off" (TLS only), "offer" (to clients that ask for it; TLS for the others),
    # "require" (clients that do not offer NLA are refused). The server also needs an NLA
    # authenticator (``RdpServer(authenticate_nla=...)``); without one NLA is off.
    nla: str = "off"
    # A client that sends no password gets the server's own login form (rdpfront/login.py).
    login_screen: bool = True
    login_timeout: float = LOGIN_TIMEOUT
    # Give the session the client's keyboard layout (setxkbmap inside the session), so scan
    # codes mean what the keys say on the user's keyboard.
    apply_keyboard_layout: bool = True
    # Seconds from accepting a client to its credentials being checked (the TLS handshake and
    # the connection sequence together; the login form has ``login_timeout`` instead).
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    # Connections at once, and of those, the ones not yet logged in: in all (when full, the
    # oldest of them makes room for a newcomer) and from one address (beyond: refused). Login
    # forms shown at once (beyond: a client without a password is refused).
    max_connections: int = MAX_CONNECTIONS
    max_unauthenticated: int = MAX_UNAUTHENTICATED
    max_unauthenticated_per_address: int = MAX_UNAUTHENTICATED_PER_ADDRESS
    max_login_forms: int = MAX_LOGIN_FORMS
    # A client whose socket accepts nothing for this long is dropped (its buffers freed).
    write_timeout: float = WRITE_STALL_TIMEOUT
    # Huge-area bitmap changes (video) go at most at this many bytes a second per client.
    bitmap_bytes_per_second: float = BITMAP_BYTES_PER_SECOND
    # Automatic reconnection (rdpfront/reconnect.py): a logged-in client gets a single-use
    # cookie that brings it back to its desktop without the password, up to
    # ``reconnect_lifetime`` seconds after its connection ended.
    auto_reconnect: bool = True
    reconnect_lifetime: float = RECONNECT_LIFETIME
    # An open connection gets a new cookie this often; the one it held dies.
    reconnect_rotation: float = RECONNECT_ROTATION
    # Files copied on a client and pasted into the session: at most this many bytes per copy
    # (a larger list is refused whole; 0: no limit; docs/clipboard.md).
    clipboard_max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # Which channel carries the desktop's sound (rdpfront/channels/sound.py, docs/audio.md):
    # "auto" (AUDIO_PLAYBACK_DVC where the client opens it, else the static rdpsnd), "static"
    # (rdpsnd only), "dvc" (AUDIO_PLAYBACK_DVC only).
    sound_transport: str = "auto"
