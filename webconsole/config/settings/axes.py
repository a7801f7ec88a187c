"""Login throttling (django-axes) for every door: the login page, the admin, REST Basic auth and
RDP. The policy and the reasons for it are in docs/security.md."""

from datetime import timedelta

from webconsole.config import env

AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # in the database: survives restarts
# Failures count per source address (whatever the user name) and per (user name, address): a
# stranger's guesses lock out the stranger's address, never the account everywhere.
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=env.LOGIN_COOLOFF)
# A success must not clear an address's count: an attacker holding one account of their own
# could otherwise log into it between guesses at others.
AXES_RESET_ON_SUCCESS = False
# The peer's own address only: a client could write any X-Forwarded-For it liked.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_LOCKOUT_CALLABLE = "webconsole.core.login_throttle.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure kept for admins, not just the running count
WRD_LOGIN_FAILURE_LOG_DAYS = env.LOGIN_FAILURE_LOG_DAYS
# After AXES_FAILURE_LIMIT failures at one user name within the cool-off, from any addresses,
# each login to that name waits 1 s, then twice as long per further failure, up to this many
# seconds: guesses spread over many addresses slow down, and the real user is only made to wait.
WRD_LOGIN_ACCOUNT_DELAY_MAX = env.LOGIN_ACCOUNT_DELAY_MAX  # then pruned daily (webconsole/core/tasks.py)
AXES_VERBOSE = False
