"""The console's forms for users, groups, policies and profiles (plain Django forms; the
services validate again, so the API and the pages refuse the same things)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from webconsole.policies.models import Clipboard, DesktopProfile, Policy

INHERIT = [("unknown", "— inherit —"), ("true", "allowed"), ("false", "refused")]
PROFILES_CHOICE = [("unknown", "— inherit —"), ("false", "any profile"), ("true", "only those ticked")]
SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    if value and value[-1] in SIZE_UNITS:
        return int(float(value[:-1]) * SIZE_UNITS[value[-1]])
    return int(value)


def format_size(value: int | None) -> str:
    if value is None:
        return ""
    for unit in ("T", "G", "M", "K"):
        if value and value % SIZE_UNITS[unit] == 0:
            return f"{value // SIZE_UNITS[unit]}{unit}"
    return str(value)


class SizeField(forms.CharField):
    """Bytes written as 4G, 512M or a plain number; empty: inherit."""

    def prepare_value(self, value):
        return format_size(value) if isinstance(value, int) else value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            size = parse_size(value)
        except ValueError:
            raise forms.ValidationError("a size such as 4G, 512M or a number of bytes") from None
        if size < 0 or size > 1 << 50:
            raise forms.ValidationError("out of range")
        return size


class UserCreateForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+\Z", max_length=150,
                                error_messages={"invalid": "letters, digits and @ . + - _ only"})
    password = forms.CharField(widget=forms.PasswordInput, max_length=128)
    email = forms.EmailField(required=False)
    is_staff = forms.BooleanField(required=False, label="Staff (may use these pages)")
    groups = forms.ModelMultipleChoiceField(queryset=Group.objects.order_by("name"), required=False,
                                            widget=forms.CheckboxSelectMultiple)


class PasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, max_length=128, label="New password")


class UserGroupsForm(forms.Form):
    groups = forms.ModelMultipleChoiceField(queryset=Group.objects.order_by("name"), required=False,
                                            widget=forms.CheckboxSelectMultiple)


class GroupCreateForm(forms.Form):
    name = forms.CharField(max_length=150)


class GroupMembersForm(forms.Form):
    members = forms.ModelMultipleChoiceField(queryset=get_user_model().objects.order_by("username"),
                                             required=False, widget=forms.CheckboxSelectMultiple)


def _tristate(choices: list[tuple[str, str]]) -> forms.NullBooleanSelect:
    widget = forms.NullBooleanSelect()
    widget.choices = choices
    return widget


class PolicyForm(forms.ModelForm):
    """Every field may stay empty: the group has no say on it / the user inherits it."""

    memory_bytes = SizeField(required=False, label="Memory limit", help_text="e.g. 2G; 0: no limit")

    class Meta:
        model = Policy
        fields = ("max_desktops", "max_width", "max_height", "idle_timeout", "max_lifetime", "memory_bytes", "cpus",
                  "pids", "restrict_profiles", "profiles", "default_profile", "browser_access", "rdp_access",
                  "clipboard", "file_upload", "file_download", "share_view", "share_control")
        labels = {"max_desktops": "Most desktops at once", "max_width": "Largest width", "max_height": "Largest height",
                  "idle_timeout": "Idle timeout (s)", "max_lifetime": "Longest lifetime (s)", "cpus": "CPU cores",
                  "pids": "Processes", "restrict_profiles": "Profiles", "profiles": "Allowed profiles",
                  "browser_access": "Browser access", "rdp_access": "RDP access", "file_upload": "File upload",
                  "file_download": "File download", "share_view": "View-only sharing",
                  "share_control": "Control sharing"}
        widgets = {"profiles": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("browser_access", "rdp_access", "file_upload", "file_download", "share_view", "share_control"):
            self.fields[name].widget = _tristate(INHERIT)
        self.fields["restrict_profiles"].widget = _tristate(PROFILES_CHOICE)
        self.fields["clipboard"] = forms.TypedChoiceField(
            choices=[("", "— inherit —"), *Clipboard.choices], required=False, empty_value=None, label="Clipboard")
        self.fields["profiles"].queryset = DesktopProfile.objects.all()
        self.fields["default_profile"].queryset = DesktopProfile.objects.all()
        self.fields["default_profile"].empty_label = "— inherit —"
        for field in self.fields.values():
            field.required = False

    def clean(self):
        cleaned = super().clean()
        from webconsole.policies.services import validate_policy

        try:
            validate_policy({**cleaned, "profiles": list(cleaned.get("profiles") or [])})
        except forms.ValidationError as exc:
            for field, errors in exc.message_dict.items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, errors)
        return cleaned

    def policy_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["profiles"] = list(data.get("profiles") or [])
        return data


class ProfileForm(forms.ModelForm):
    class Meta:
        model = DesktopProfile
        fields = ("name", "label", "description", "startup", "wayland", "default_width", "default_height", "icon")
        widgets = {"startup": forms.Textarea(attrs={"rows": 3, "cols": 60})}
        help_texts = {"startup": "A shell command, the session's leader: the desktop ends when it exits. Empty: the "
                                 "server's default (WRD_SESSION_STARTUP, else openbox + xterm).",
                      "name": "letters, digits, - and _ (the API and the start form use it)"}
