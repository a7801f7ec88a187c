from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "webconsole.accounts"
    label = "accounts"
    verbose_name = "Desktop accounts"
