"""The dashboard: thumbnails, connection files, what owners see of admins."""

from webconsole.config import env

# One host screenshot per desktop per this many seconds serves every open dashboard.
WRD_THUMBNAIL_SECONDS = env.env_int("WRD_THUMBNAIL_SECONDS", 3)
WRD_THUMBNAIL_WIDTH = env.env_int("WRD_THUMBNAIL_WIDTH", 320)
# The RDP server's name and port as clients reach it (the .rdp file, the xfreerdp line);
# empty: the host name the browser used for the console.
WRD_RDP_PUBLIC_HOST = env.env_str("WRD_RDP_PUBLIC_HOST", "")
WRD_RDP_PUBLIC_PORT = env.env_int("WRD_RDP_PUBLIC_PORT", env.RDP_PORT)
# An admin opening another user's desktop is always audited; with this on, its owner also
# sees it on their dashboard.
WRD_ADMIN_OPEN_SHOWN_TO_OWNER = env.env_bool("WRD_ADMIN_OPEN_SHOWN_TO_OWNER", True)
