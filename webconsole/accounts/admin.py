"""Admin for desktop accounts, and the User admin's account inline and delete paths.

Deleting a console user always goes through ``services.user_delete``: the normal delete keeps
a WRD-made system account and its home; the "and their desktop homes" action removes them.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from webconsole.accounts import selectors, services
from webconsole.accounts.models import UnixAccount
from webconsole.accounts.unix import AccountError

User = get_user_model()
ACCOUNT_FIELDS = ("name", "uid", "gid", "home", "shell", "managed", "created_at")


class LinkAccountForm(forms.ModelForm):
    """Adding a Unix account in the admin links an existing system account."""

    class Meta:
        model = UnixAccount
        fields = ("user", "name")
        labels = {"name": "System account"}
        help_texts = {"name": "The name of an existing system account (uid 1000 or above) to run this user's "
                              "desktops as."}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("user") and cleaned.get("name"):
            services.unix_account_link_check(user=cleaned["user"], system_name=cleaned["name"])
        return cleaned


@admin.register(UnixAccount)
class UnixAccountAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "uid", "gid", "home", "managed", "created_at")
    list_filter = ("managed",)
    search_fields = ("user__username", "name")
    readonly_fields = ("uid", "gid", "home", "shell", "managed", "created_at")

    def get_queryset(self, request):
        return selectors.unix_account_list()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = LinkAccountForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("user", "name") if obj is None else ("user", *ACCOUNT_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else ("user", *ACCOUNT_FIELDS)

    def save_model(self, request, obj, form, change):
        if change:
            return
        account = services.unix_account_link(user=obj.user, system_name=obj.name)
        obj.pk = account.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None):
        # A WRD-made account goes away with its user (services.user_delete); a link can be removed.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.managed)

    def delete_model(self, request, obj):
        services.unix_account_unlink(user=obj.user)

    def delete_queryset(self, request, queryset):
        for account in queryset.select_related("user"):
            if account.managed:
                messages.warning(request, f"{account.name} is managed by WRD: delete its user instead.")
                continue
            try:
                services.unix_account_unlink(user=account.user)
            except ValidationError as exc:
                messages.error(request, f"{account.name}: {' '.join(exc.messages)}")


class UnixAccountInline(admin.StackedInline):
    model = UnixAccount
    fields = readonly_fields = ACCOUNT_FIELDS
    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.unregister(User)


@admin.register(User)
class ConsoleUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, UnixAccountInline]
    actions = ["delete_with_homes"]

    def get_deleted_objects(self, objs, request):
        # The account's PROTECT is there so nothing but user_delete removes a user; the admin
        # deletes through it (delete_model below), so the account is no obstacle here, nor is
        # the account admin refusing to delete WRD-made accounts on their own.
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        verbose_name = UnixAccount._meta.verbose_name
        protected = [item for item in protected if not str(item).startswith(f"{verbose_name.capitalize()}: ")]
        perms_needed = {name for name in perms_needed if name != verbose_name}
        return to_delete, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        services.user_delete(user=obj, with_home=False)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            services.user_delete(user=user, with_home=False)

    @admin.action(description="Delete selected users and their desktop homes", permissions=["delete"])
    def delete_with_homes(self, request, queryset):
        if request.POST.get("post") == "yes":
            deleted = 0
            for user in queryset:
                try:
                    services.user_delete(user=user, with_home=True)
                except (AccountError, ValidationError) as exc:
                    messages.error(request, f"{user}: not deleted: {exc}")
                else:
                    deleted += 1
            if deleted:
                messages.success(request, f"Deleted {deleted} user(s) with their desktop accounts and homes.")
            return None
        rows = [(user, selectors.unix_account_for(user=user)) for user in queryset]
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete users and their desktop homes?",
            "opts": self.model._meta,
            "rows": rows,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "delete_with_homes",
        }
        return TemplateResponse(request, "accounts/user_delete_with_homes.html", context)
