from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "webconsole.accounts"
    label = "accounts"
    verbose_name = "Desktop accounts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from webconsole.accounts.nt_hash import user_saved

        post_save.connect(user_saved, sender=get_user_model(), dispatch_uid="wrd-nt-hash")
