"""Reads of users, groups, policies and profiles for the console's pages and API."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db.models import Count, QuerySet

from webconsole.policies.effective import effective_policy
from webconsole.policies.models import DesktopProfile, Policy


@dataclass(frozen=True)
class ProfileChoice:
    name: str
    label: str
    is_default: bool


def profile_choices(*, user: AbstractBaseUser) -> list[ProfileChoice]:
    """The profiles ``user`` may start, their policy's default first chosen."""
    policy = effective_policy(user=user)
    return [ProfileChoice(p.name, p.label or p.name, p.name == policy.default_profile)
            for p in DesktopProfile.objects.all() if policy.allows_profile(p.name)]


def user_list() -> QuerySet:
    return (get_user_model().objects.select_related("unix_account").prefetch_related("groups")
            .order_by("username"))


def user_get(*, user_id: int):
    return user_list().filter(pk=user_id).first()


def group_list() -> QuerySet[Group]:
    return Group.objects.annotate(member_count=Count("user")).select_related("wrd_policy").order_by("name")


def group_get(*, group_id: int) -> Group | None:
    return Group.objects.filter(pk=group_id).first()


def policy_of(*, group: Group | None = None, user: AbstractBaseUser | None = None) -> Policy | None:
    """The policy of ``group`` or the override of ``user`` (give one), if set."""
    return policy_of_group(group=group) if group is not None else policy_of_user(user=user)


def policy_of_group(*, group: Group) -> Policy | None:
    return Policy.objects.filter(group=group).first()


def policy_of_user(*, user: AbstractBaseUser) -> Policy | None:
    return Policy.objects.filter(user=user).first()


def profile_list() -> QuerySet[DesktopProfile]:
    return DesktopProfile.objects.all()


def profile_get(*, profile_id: int) -> DesktopProfile | None:
    return DesktopProfile.objects.filter(pk=profile_id).first()
