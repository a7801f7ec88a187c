"""The console page where users make, list and revoke their API tokens."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from webconsole.api import selectors, services
from webconsole.api.models import ApiToken

EXPIRY_CHOICES = [("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year"), ("", "never")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="90",
                                        label="Expires")


@login_required
@require_http_methods(["GET", "POST"])
def token_list_view(request):
    new_token = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=int(days)) if days else None
        try:
            made = services.token_create(user=request.user, name=form.cleaned_data["name"], expires_at=expires_at,
                                         address=request.META.get("REMOTE_ADDR", ""))
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
        else:
            new_token = made  # shown on this answer only: the page is not redirected
            form = TokenForm()
    status = 400 if request.method == "POST" and form.errors else 200
    response = render(request, "api/tokens.html", {
        "form": form, "new_token": new_token, "tokens": selectors.token_list(user=request.user)}, status=status)
    response["Cache-Control"] = "no-store"  # the new secret must not stay in a cache
    return response


@login_required
@require_POST
def token_revoke_view(request, token_id: int):
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("no such token")
    services.token_revoke(token=token, actor=request.user, address=request.META.get("REMOTE_ADDR", ""))
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens:list")
