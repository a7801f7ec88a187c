"""How the console defends its pages in the browser: cookies, HSTS and the Content-Security-Policy
(docs/security.md, "The console over the network")."""

from csp.constants import NONE, SELF

from webconsole.config import env

# Behind a TLS proxy only: otherwise any client could claim HTTPS with the header.
if env.TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

_BEHIND_TLS = env.CONSOLE_TLS or env.TRUST_X_FORWARDED_PROTO
SESSION_COOKIE_SECURE = env.env_bool("WRD_SECURE_COOKIES", _BEHIND_TLS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Django's SecurityMiddleware sends HSTS on HTTPS responses only, so plain-HTTP set-ups on
# loopback are unaffected. Subdomains are the operator's to vouch for, not ours.
SECURE_HSTS_SECONDS = env.env_int("WRD_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere: every page's scripts are files under static/ (data reaches
# them through json_script blocks and data- attributes). The viewer talks to its own origin
# over WebSocket ('self' covers ws: and wss: of the page's host), decodes in WebCodecs and plays
# sound through an AudioWorklet module from static/; downloads and screenshots are blob: URLs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
