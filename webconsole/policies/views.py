"""The console's admin pages (staff only): users, groups, their policies, desktop profiles.
Thin: forms check the input, services do the work and record it in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webconsole.accounts.selectors import unix_account_for
from webconsole.desktops import selectors as desktop_selectors
from webconsole.policies import forms, selectors, services
from webconsole.policies.effective import effective_policy, server_default
from webconsole.policies.models import Clipboard, Policy


def staff_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)
    return wrapped


def _address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _errors_into(form, exc: ValidationError) -> None:
    """A service's refusal shown on the form: by field where it names one the form has."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _post_form(request, form, *, page: Callable[..., HttpResponse], done: HttpResponse, name: str, saved: str,
               save: Callable[[Any], object]) -> HttpResponse:
    """A form posted from a detail page: valid and saved (``save(form)``; a service's refusal
    goes on the form), the message ``saved`` and ``done``; else the page again (400) with the
    form under ``name`` in its context."""
    if form.is_valid():
        try:
            save(form)
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, saved)
            return done
    return page(status=400, **{name: form})


def _user_form_post(request, user, form, **how) -> HttpResponse:
    return _post_form(request, form, page=partial(_user_page, request, user),
                      done=redirect("manage:user", user_id=user.pk), **how)


def _group_form_post(request, group, form, **how) -> HttpResponse:
    return _post_form(request, form, page=partial(_group_page, request, group),
                      done=redirect("manage:group", group_id=group.pk), **how)


def _policy_form(request, **owner) -> forms.PolicyForm:
    """The posted policy of a group or a user (``group=`` or ``user=``)."""
    return forms.PolicyForm(request.POST, instance=selectors.policy_of(**owner) or Policy(**owner))


def _policy_saver(request, **owner) -> Callable[[forms.PolicyForm], object]:
    return lambda form: services.policy_set(actor=request.user, data=form.policy_data(), address=_address(request),
                                            **owner)


def _user_or_404(user_id: int):
    user = selectors.user_get(user_id=user_id)
    if user is None:
        raise Http404("no such user")
    return user


def _group_or_404(group_id: int):
    group = selectors.group_get(group_id=group_id)
    if group is None:
        raise Http404("no such group")
    return group


def _profile_or_404(profile_id: int):
    profile = selectors.profile_get(profile_id=profile_id)
    if profile is None:
        raise Http404("no such profile")
    return profile


# -- users ----------------------------------------------------------------------------------


@staff_required
def user_list_view(request):
    form = forms.UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_create(actor=request.user, username=data["username"], password=data["password"],
                                        email=data["email"], is_staff=data["is_staff"], groups=list(data["groups"]),
                                        address=_address(request))
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, f"User {user.username} created.")
            return redirect("manage:user", user_id=user.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "policies/users.html", {"users": selectors.user_list(), "form": form}, status=status)


def _user_page(request, user, *, status: int = 200, **forms_given):
    policy = selectors.policy_of_user(user=user)
    context = {
        "subject": user,
        "account": unix_account_for(user=user),
        "desktops": desktop_selectors.desktop_list(user=user, include_ended=False),
        "effective": effective_policy(user=user).as_dict(),
        "clipboard_label": Clipboard(effective_policy(user=user).clipboard).label,
        "default": server_default().as_dict(),
        "groups_form": forms.UserGroupsForm(initial={"groups": user.groups.all()}),
        "password_form": forms.PasswordForm(),
        "policy_form": forms.PolicyForm(instance=policy or Policy(user=user)),
        "has_override": policy is not None,
    }
    context.update(forms_given)
    return render(request, "policies/user.html", context, status=status)


@staff_required
def user_detail_view(request, user_id: int):
    return _user_page(request, _user_or_404(user_id))


@staff_required
@require_POST
def user_active_view(request, user_id: int):
    user = _user_or_404(user_id)
    active = request.POST.get("active") == "1"
    try:
        services.user_set_active(actor=request.user, user=user, active=active, address=_address(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{user.username} {'enabled' if active else 'disabled'}.")
    return redirect("manage:user", user_id=user.pk)


@staff_required
@require_POST
def user_password_view(request, user_id: int):
    user = _user_or_404(user_id)
    return _user_form_post(request, user, forms.PasswordForm(request.POST), name="password_form",
                           saved=f"New password set for {user.username}.",
                           save=lambda form: services.user_set_password(actor=request.user, user=user,
                                                                        password=form.cleaned_data["password"],
                                                                        address=_address(request)))


@staff_required
@require_POST
def user_groups_view(request, user_id: int):
    user = _user_or_404(user_id)
    groups = forms.UserGroupsForm(request.POST)
    return _user_form_post(request, user, groups, name="groups_form", saved=f"Groups of {user.username} saved.",
                           save=lambda form: services.user_set_groups(actor=request.user, user=user,
                                                                      groups=list(form.cleaned_data["groups"]),
                                                                      address=_address(request)))


@staff_required
@require_POST
def user_policy_view(request, user_id: int):
    user = _user_or_404(user_id)
    if request.POST.get("clear") == "1":
        services.policy_clear(actor=request.user, user=user, address=_address(request))
        messages.success(request, f"{user.username} inherits their groups' policies again.")
        return redirect("manage:user", user_id=user.pk)
    return _user_form_post(request, user, _policy_form(request, user=user), name="policy_form",
                           saved=f"Policy override of {user.username} saved.", save=_policy_saver(request, user=user))


@staff_required
@require_POST
def user_delete_view(request, user_id: int):
    user = _user_or_404(user_id)
    name = user.username
    try:
        services.user_delete(actor=request.user, user=user, with_home=request.POST.get("with_home") == "1",
                             address=_address(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("manage:user", user_id=user.pk)
    messages.success(request, f"User {name} deleted.")
    return redirect("manage:users")


# -- groups ---------------------------------------------------------------------------------


@staff_required
def group_list_view(request):
    form = forms.GroupCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(actor=request.user, name=form.cleaned_data["name"],
                                          address=_address(request))
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, f"Group {group.name} created.")
            return redirect("manage:group", group_id=group.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "policies/groups.html", {"groups": selectors.group_list(), "form": form}, status=status)


def _group_page(request, group, *, status: int = 200, **forms_given):
    context = {
        "group": group,
        "members_form": forms.GroupMembersForm(initial={"members": group.user_set.all()}),
        "policy_form": forms.PolicyForm(instance=selectors.policy_of_group(group=group) or Policy(group=group)),
        "default": server_default().as_dict(),
    }
    context.update(forms_given)
    return render(request, "policies/group.html", context, status=status)


@staff_required
def group_detail_view(request, group_id: int):
    return _group_page(request, _group_or_404(group_id))


@staff_required
@require_POST
def group_members_view(request, group_id: int):
    group = _group_or_404(group_id)
    members = forms.GroupMembersForm(request.POST)
    return _group_form_post(request, group, members, name="members_form", saved=f"Members of {group.name} saved.",
                            save=lambda form: services.group_set_members(actor=request.user, group=group,
                                                                         members=list(form.cleaned_data["members"]),
                                                                         address=_address(request)))


@staff_required
@require_POST
def group_policy_view(request, group_id: int):
    group = _group_or_404(group_id)
    return _group_form_post(request, group, _policy_form(request, group=group), name="policy_form",
                            saved=f"Policy of {group.name} saved.", save=_policy_saver(request, group=group))


@staff_required
@require_POST
def group_delete_view(request, group_id: int):
    group = _group_or_404(group_id)
    name = group.name
    services.group_delete(actor=request.user, group=group, address=_address(request))
    messages.success(request, f"Group {name} deleted.")
    return redirect("manage:groups")


# -- profiles -------------------------------------------------------------------------------


@staff_required
def profile_list_view(request):
    form = forms.ProfileForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            profile = services.profile_save(actor=request.user, data=form.cleaned_data, address=_address(request))
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, f"Profile {profile.name} created.")
            return redirect("manage:profiles")
    status = 400 if request.method == "POST" else 200
    return render(request, "policies/profiles.html", {"profiles": selectors.profile_list(), "form": form},
                  status=status)


@staff_required
def profile_detail_view(request, profile_id: int):
    profile = _profile_or_404(profile_id)
    form = forms.ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_save(actor=request.user, profile=profile, data=form.cleaned_data,
                                  address=_address(request))
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, f"Profile {profile.name} saved.")
            return redirect("manage:profiles")
    status = 400 if request.method == "POST" else 200
    return render(request, "policies/profile.html", {"profile": profile, "form": form}, status=status)


@staff_required
@require_POST
def profile_delete_view(request, profile_id: int):
    profile = _profile_or_404(profile_id)
    name = profile.name
    services.profile_delete(actor=request.user, profile=profile, address=_address(request))
    messages.success(request, f"Profile {name} deleted.")
    return redirect("manage:profiles")
