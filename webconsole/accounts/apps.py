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
        # RDP access withdrawn through a policy (webconsole/policies): the hash goes too.
        from django.apps import apps
        from django.db.models.signals import m2m_changed, post_delete

        from webconsole.accounts.nt_hash import groups_changed, policy_saved

        if apps.is_installed("webconsole.policies"):
            policy = apps.get_model("policies", "Policy")
            post_save.connect(policy_saved, sender=policy, dispatch_uid="wrd-nt-hash-policy")
            post_delete.connect(policy_saved, sender=policy, dispatch_uid="wrd-nt-hash-policy-delete")
        m2m_changed.connect(groups_changed, sender=get_user_model().groups.through, dispatch_uid="wrd-nt-hash-groups")
