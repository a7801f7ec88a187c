"""Who may see and do what through the API, decided here for every endpoint:

- every endpoint needs a signed-in user (``DEFAULT_PERMISSION_CLASSES``) unless it says
  ``permission_classes = [AllowAny]``; staff-only ones use ``IsStaff``;
- an object is looked up through ``visible_to`` / ``get_visible_or_404``: staff see every
  object, others only their own, and another user's object answers 404 exactly as an id that
  does not exist does, so ids cannot be probed.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model, QuerySet
from rest_framework import exceptions, permissions


class IsStaff(permissions.BasePermission):
    message = "Only staff may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


def visible_to(queryset: QuerySet, user: AbstractBaseUser, *, owner_field: str = "owner") -> QuerySet:
    """The rows of ``queryset`` that ``user`` may see: all for staff, their own for others."""
    if user.is_staff:
        return queryset
    return queryset.filter(**{owner_field: user})


def get_visible_or_404(queryset: QuerySet, user: AbstractBaseUser, *, owner_field: str = "owner",
                       what: str = "object", **lookup) -> Model:
    """The one row of ``queryset`` matching ``lookup`` that ``user`` may see; NotFound (404)
    otherwise, the same answer whether the row exists or not."""
    row = visible_to(queryset, user, owner_field=owner_field).filter(**lookup).first()
    if row is None:
        raise exceptions.NotFound(f"No such {what}.")
    return row
