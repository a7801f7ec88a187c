"""NLA logins of the RDP server: ``authenticate_nla(proof, address)``, which
``manage.py rdpserver`` hands to rdpfront beside ``rdp.authenticate``.

The user's stored NT hash checks the client's NTLM response (``NtlmBackend``) inside Django's
``authenticate`` under the same throttle as every door (django-axes per address, the per-name
delay of ``login_throttle.account_delay``), and each outcome is audited with door ``rdp-nla``.
A user without a usable NT hash (created before NLA, or whose password changed outside
``set_password``) is refused with a line saying how to get one; the client is told
STATUS_PASSWORD_MUST_CHANGE, which FreeRDP shows as ERRCONNECT_PASSWORD_MUST_CHANGE.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate

from rdpfront.nla import NlaProof, Verdict
from webconsole.accounts.nt_hash import MISSING_ADVICE
from webconsole.audit.services import async_record
from webconsole.core.login_throttle import account_delay, login_request

log = logging.getLogger(__name__)

DOOR = "rdp-nla"


def _check(proof: NlaProof, address: str) -> tuple[object, Verdict]:
    request = login_request(address=address, door=DOOR)
    user = authenticate(request, username=proof.username, nla_proof=proof)
    if user is not None:
        return user, Verdict.OK
    if getattr(request, "axes_locked_out", False):
        return None, Verdict.THROTTLED
    if getattr(request, "nla_denied", False):
        return None, Verdict.DENIED
    if getattr(request, "nla_no_hash", False):
        return None, Verdict.NO_HASH
    return None, Verdict.FAILED


async def authenticate_nla(proof: NlaProof, address: str) -> Verdict:
    """``address``: the RDP client's IP address, as the server's socket saw it."""
    username = proof.username
    if (delay := await sync_to_async(account_delay)(username=username)) > 0:
        log.info("rdp login (NLA) to user=%r waits %.0f s: many recent failures at that name", username, delay)
        await asyncio.sleep(delay)
    user, verdict = await sync_to_async(_check)(proof, address)
    if verdict is Verdict.OK:
        await async_record("login.success", actor=user, actor_name=username, address=address, door=DOOR)
        return verdict
    if verdict is Verdict.THROTTLED:
        log.warning("rdp login throttled user=%r address=%s (NLA): too many failed logins from this address",
                    username, address)
    elif verdict is Verdict.DENIED:
        log.warning("rdp login refused user=%r address=%s (NLA): refused by policy: RDP access is turned off by "
                    "the user's policy", username, address)
    elif verdict is Verdict.NO_HASH:
        log.warning("rdp login refused user=%r address=%s (NLA): no NT hash is stored for this user, which NLA "
                    "needs: they must %s (or connect without NLA, e.g. xfreerdp /sec:tls)", username, address,
                    MISSING_ADVICE)
    else:
        log.warning("rdp login failed user=%r address=%s (NLA)%s", username, address,
                    " (right password, wrong TLS key binding)" if proof.binding_failed else "")
    return verdict  # the failure reached the audit log through Django's user_login_failed signal
