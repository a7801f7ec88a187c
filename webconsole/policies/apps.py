from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "webconsole.policies"
    label = "policies"
    verbose_name = "Users, groups, policies and desktop profiles"
