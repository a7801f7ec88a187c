"""REST API of users, groups, policies and desktop profiles (staff only): one class per
resource and method, nested input serializers, the services doing the work. Bad input is a
400 with a message per field; an unknown id a 404."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import Http404
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from webconsole.accounts.selectors import unix_account_for
from webconsole.policies import selectors, services
from webconsole.policies.effective import effective_policy
from webconsole.policies.models import Clipboard, DesktopProfile, Policy


def _address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _user(user_id: int):
    user = selectors.user_get(user_id=user_id)
    if user is None:
        raise Http404("no such user")
    return user


def _group(group_id: int) -> Group:
    group = selectors.group_get(group_id=group_id)
    if group is None:
        raise Http404("no such group")
    return group


def _profile(profile_id: int) -> DesktopProfile:
    profile = selectors.profile_get(profile_id=profile_id)
    if profile is None:
        raise Http404("no such profile")
    return profile


# -- serializers ----------------------------------------------------------------------------


class PolicySerializer(serializers.Serializer):
    """A group's policy or a user's override; null (or left out): no say / inherit."""

    max_desktops = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    max_width = serializers.IntegerField(min_value=1, max_value=16384, required=False, allow_null=True)
    max_height = serializers.IntegerField(min_value=1, max_value=16384, required=False, allow_null=True)
    idle_timeout = serializers.IntegerField(min_value=0, max_value=10**8, required=False, allow_null=True)
    max_lifetime = serializers.IntegerField(min_value=0, max_value=10**8, required=False, allow_null=True)
    memory_bytes = serializers.IntegerField(min_value=0, max_value=1 << 50, required=False, allow_null=True)
    cpus = serializers.FloatField(min_value=0, max_value=1024, required=False, allow_null=True)
    pids = serializers.IntegerField(min_value=0, max_value=10**7, required=False, allow_null=True)
    restrict_profiles = serializers.BooleanField(required=False, allow_null=True, default=None)
    profiles = serializers.SlugRelatedField(slug_field="name", many=True, required=False,
                                            queryset=DesktopProfile.objects.all())
    default_profile = serializers.SlugRelatedField(slug_field="name", required=False, allow_null=True,
                                                   queryset=DesktopProfile.objects.all())
    browser_access = serializers.BooleanField(required=False, allow_null=True, default=None)
    rdp_access = serializers.BooleanField(required=False, allow_null=True, default=None)
    clipboard = serializers.ChoiceField(choices=Clipboard.choices, required=False, allow_null=True)
    file_upload = serializers.BooleanField(required=False, allow_null=True, default=None)
    file_download = serializers.BooleanField(required=False, allow_null=True, default=None)
    share_view = serializers.BooleanField(required=False, allow_null=True, default=None)
    share_control = serializers.BooleanField(required=False, allow_null=True, default=None)


def policy_data(policy: Policy | None) -> dict | None:
    if policy is None:
        return None
    out = {f: getattr(policy, f) for f in services.POLICY_FIELDS if f != "default_profile"}
    out["default_profile"] = policy.default_profile.name if policy.default_profile_id else None
    out["profiles"] = sorted(p.name for p in policy.profiles.all())
    return out


def user_data(user, *, detail: bool = False) -> dict:
    account = unix_account_for(user=user)
    out = {"id": user.pk, "username": user.username, "email": user.email, "is_active": user.is_active,
           "is_staff": user.is_staff, "groups": sorted(g.name for g in user.groups.all()),
           "unix_account": None if account is None else {
               "name": account.name, "uid": account.uid, "gid": account.gid, "home": account.home,
               "managed": account.managed}}
    if detail:
        out["policy_override"] = policy_data(selectors.policy_of_user(user=user))
        out["effective_policy"] = effective_policy(user=user).as_dict()
    return out


def group_data(group: Group) -> dict:
    return {"id": group.pk, "name": group.name, "members": sorted(group.user_set.values_list("username", flat=True)),
            "policy": policy_data(selectors.policy_of_group(group=group))}


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = DesktopProfile
        fields = ("id", "name", "label", "description", "startup", "wayland", "default_width", "default_height",
                  "icon")
        read_only_fields = ("id",)


# -- users ----------------------------------------------------------------------------------


class UserListApi(APIView):
    permission_classes = [IsAdminUser]

    class InputSerializer(serializers.Serializer):
        username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        email = serializers.EmailField(required=False, allow_blank=True, default="")
        is_staff = serializers.BooleanField(required=False, default=False)
        groups = serializers.SlugRelatedField(slug_field="name", many=True, required=False,
                                              queryset=Group.objects.all())

    def get(self, request):
        return Response([user_data(u) for u in selectors.user_list()])

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(actor=request.user, address=_address(request), **data.validated_data)
        return Response(user_data(user, detail=True), status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    """GET: the user, their Unix account and home, override and effective policy. PATCH:
    ``is_active`` and/or ``groups``. DELETE (``?with_home=1``: their Unix account and home too)."""

    permission_classes = [IsAdminUser]

    class InputSerializer(serializers.Serializer):
        is_active = serializers.BooleanField(required=False)
        groups = serializers.SlugRelatedField(slug_field="name", many=True, required=False,
                                              queryset=Group.objects.all())

    def get(self, request, user_id: int):
        return Response(user_data(_user(user_id), detail=True))

    def patch(self, request, user_id: int):
        user = _user(user_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "is_active" in data.validated_data:
            services.user_set_active(actor=request.user, user=user, active=data.validated_data["is_active"],
                                     address=_address(request))
        if "groups" in data.validated_data:
            services.user_set_groups(actor=request.user, user=user, groups=data.validated_data["groups"],
                                     address=_address(request))
        return Response(user_data(_user(user_id), detail=True))

    def delete(self, request, user_id: int):
        user = _user(user_id)
        services.user_delete(actor=request.user, user=user, address=_address(request),
                             with_home=request.query_params.get("with_home") in ("1", "true"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserPasswordApi(APIView):
    permission_classes = [IsAdminUser]

    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    def post(self, request, user_id: int):
        user = _user(user_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_set_password(actor=request.user, user=user, address=_address(request), **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _PolicyApi(APIView):
    permission_classes = [IsAdminUser]

    def _owner(self, pk: int) -> dict:
        raise NotImplementedError

    def get(self, request, **kwargs):
        owner = self._owner(**kwargs)
        policy = Policy.objects.filter(**owner).first()
        return Response(policy_data(policy))

    def put(self, request, **kwargs):
        owner = self._owner(**kwargs)
        data = PolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_set(actor=request.user, data=data.validated_data, address=_address(request),
                                     **owner)
        return Response(policy_data(policy))

    def delete(self, request, **kwargs):
        services.policy_clear(actor=request.user, address=_address(request), **self._owner(**kwargs))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserPolicyApi(_PolicyApi):
    """A user's override: GET, PUT (the whole override), DELETE (inherit everything)."""

    def _owner(self, user_id: int) -> dict:
        return {"user": _user(user_id)}


class GroupPolicyApi(_PolicyApi):
    """A group's policy: GET, PUT (the whole policy), DELETE."""

    def _owner(self, group_id: int) -> dict:
        return {"group": _group(group_id)}


# -- groups ---------------------------------------------------------------------------------


class GroupListApi(APIView):
    permission_classes = [IsAdminUser]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150)

    def get(self, request):
        return Response([group_data(g) for g in selectors.group_list()])

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_create(actor=request.user, address=_address(request), **data.validated_data)
        return Response(group_data(group), status=status.HTTP_201_CREATED)


class GroupDetailApi(APIView):
    """GET; PATCH ``members`` (user names: the whole list); DELETE (its members stay)."""

    permission_classes = [IsAdminUser]

    class InputSerializer(serializers.Serializer):
        members = serializers.SlugRelatedField(slug_field="username", many=True,
                                               queryset=get_user_model().objects.all())

    def get(self, request, group_id: int):
        return Response(group_data(_group(group_id)))

    def patch(self, request, group_id: int):
        group = _group(group_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.group_set_members(actor=request.user, group=group, members=data.validated_data["members"],
                                   address=_address(request))
        return Response(group_data(group))

    def delete(self, request, group_id: int):
        services.group_delete(actor=request.user, group=_group(group_id), address=_address(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- profiles -------------------------------------------------------------------------------


class ProfileListApi(APIView):
    permission_classes = [IsAdminUser]

    def get(self, request):
        return Response(ProfileSerializer(selectors.profile_list(), many=True).data)

    def post(self, request):
        data = ProfileSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = services.profile_save(actor=request.user, data=data.validated_data, address=_address(request))
        return Response(ProfileSerializer(profile).data, status=status.HTTP_201_CREATED)


class ProfileDetailApi(APIView):
    permission_classes = [IsAdminUser]

    def get(self, request, profile_id: int):
        return Response(ProfileSerializer(_profile(profile_id)).data)

    def patch(self, request, profile_id: int):
        profile = _profile(profile_id)
        data = ProfileSerializer(profile, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        profile = services.profile_save(actor=request.user, profile=profile, data=data.validated_data,
                                        address=_address(request))
        return Response(ProfileSerializer(profile).data)

    def delete(self, request, profile_id: int):
        services.profile_delete(actor=request.user, profile=_profile(profile_id), address=_address(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
