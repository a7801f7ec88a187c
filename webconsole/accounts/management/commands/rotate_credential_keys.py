"""Re-encrypt the stored NT hashes under the first key of WRD_CREDENTIAL_KEYS (after adding a
new key in front; the old one may be removed once this has run)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from webconsole.accounts.nt_hash import nt_hash_rotate


class Command(BaseCommand):
    help = "Re-encrypt the NT hashes NLA uses under the first key of WRD_CREDENTIAL_KEYS."

    def handle(self, *args, **opts) -> None:
        count = nt_hash_rotate()
        self.stdout.write(f"{count} NT hash{'es' if count != 1 else ''} re-encrypted under the first key")
