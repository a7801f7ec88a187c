"""REST API of users, groups, policies and desktop profiles (staff only): one class per
resource, nested input serializers, output serializers that are also the schema's answers,
the services doing the work. Bad input is a 400 with a message per field (the API's one error
body, ``webconsole.api.errors``); an unknown id a 404."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from webconsole.accounts.selectors import unix_account_for
from webconsole.api.access import IsStaff
from webconsole.api.authentication import client_address
from webconsole.api.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictEmailField,
    StrictFloatField,
    StrictIntegerField,
    StrictSlugField,
    StrictSlugRelatedField,
)
from webconsole.api.query import check_query
from webconsole.policies import selectors, services
from webconsole.policies.effective import effective_policy
from webconsole.policies.models import Clipboard, DesktopProfile, Policy


def _user(user_id: int):
    user = selectors.user_get(user_id=user_id)
    if user is None:
        raise exceptions.NotFound("No such user.")
    return user


def _group(group_id: int) -> Group:
    group = selectors.group_get(group_id=group_id)
    if group is None:
        raise exceptions.NotFound("No such group.")
    return group


def _profile(profile_id: int) -> DesktopProfile:
    profile = selectors.profile_get(profile_id=profile_id)
    if profile is None:
        raise exceptions.NotFound("No such profile.")
    return profile


# -- output ---------------------------------------------------------------------------------


class PolicyOutputSerializer(serializers.Serializer):
    """A group's policy or a user's override: null where it has no say / inherits."""

    max_desktops = serializers.IntegerField(allow_null=True)
    max_width = serializers.IntegerField(allow_null=True)
    max_height = serializers.IntegerField(allow_null=True)
    idle_timeout = serializers.IntegerField(allow_null=True, help_text="Seconds; 0: never.")
    max_lifetime = serializers.IntegerField(allow_null=True, help_text="Seconds; 0: no limit.")
    memory_bytes = serializers.IntegerField(allow_null=True, help_text="Bytes; 0: no limit.")
    cpus = serializers.FloatField(allow_null=True, help_text="Cores; 0: no quota.")
    pids = serializers.IntegerField(allow_null=True, help_text="Processes and threads; 0: no limit.")
    restrict_profiles = serializers.BooleanField(allow_null=True,
                                                 help_text="true: only `profiles`; false: any profile.")
    profiles = serializers.ListField(child=serializers.CharField())
    default_profile = serializers.CharField(allow_null=True)
    browser_access = serializers.BooleanField(allow_null=True)
    rdp_access = serializers.BooleanField(allow_null=True)
    clipboard = serializers.ChoiceField(choices=Clipboard.choices, allow_null=True)
    file_upload = serializers.BooleanField(allow_null=True)
    file_download = serializers.BooleanField(allow_null=True)
    share_view = serializers.BooleanField(allow_null=True)
    share_control = serializers.BooleanField(allow_null=True)


class EffectivePolicyOutputSerializer(serializers.Serializer):
    """What applies to the user: the server's defaults, their groups', their override."""

    max_desktops = serializers.IntegerField()
    max_width = serializers.IntegerField()
    max_height = serializers.IntegerField()
    idle_timeout = serializers.IntegerField()
    max_lifetime = serializers.IntegerField()
    memory_bytes = serializers.IntegerField()
    cpus = serializers.FloatField()
    pids = serializers.IntegerField()
    profiles = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                     help_text="The profiles allowed; null: any.")
    default_profile = serializers.CharField()
    browser_access = serializers.BooleanField()
    rdp_access = serializers.BooleanField()
    clipboard = serializers.ChoiceField(choices=Clipboard.choices)
    file_upload = serializers.BooleanField()
    file_download = serializers.BooleanField()
    share_view = serializers.BooleanField()
    share_control = serializers.BooleanField()


class UnixAccountOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    uid = serializers.IntegerField()
    gid = serializers.IntegerField()
    home = serializers.CharField()
    managed = serializers.BooleanField(help_text="false: a system account an admin linked.")


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    is_active = serializers.BooleanField()
    is_staff = serializers.BooleanField()
    groups = serializers.ListField(child=serializers.CharField())
    unix_account = UnixAccountOutputSerializer(allow_null=True,
                                               help_text="null until the user's first desktop makes one.")


class UserDetailOutputSerializer(UserOutputSerializer):
    policy_override = PolicyOutputSerializer(allow_null=True, help_text="null: the user has no override.")
    effective_policy = EffectivePolicyOutputSerializer()


class GroupOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    members = serializers.ListField(child=serializers.CharField(), help_text="User names.")
    policy = PolicyOutputSerializer(allow_null=True, help_text="null: the group has no policy.")


class ProfileOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DesktopProfile
        fields = ("id", "name", "label", "description", "startup", "wayland", "default_width", "default_height",
                  "icon")


def policy_data(policy: Policy | None) -> dict | None:
    if policy is None:
        return None
    out = {f: getattr(policy, f) for f in services.POLICY_FIELDS if f != "default_profile"}
    out["default_profile"] = policy.default_profile.name if policy.default_profile_id else None
    out["profiles"] = sorted(p.name for p in policy.profiles.all())
    return out


NO_POLICY = {**dict.fromkeys(services.POLICY_FIELDS), "profiles": []}


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
        return UserDetailOutputSerializer(out).data
    return UserOutputSerializer(out).data


def group_data(group: Group) -> dict:
    return GroupOutputSerializer({
        "id": group.pk, "name": group.name, "members": sorted(group.user_set.values_list("username", flat=True)),
        "policy": policy_data(selectors.policy_of_group(group=group))}).data


# -- input ----------------------------------------------------------------------------------


def _nullable_int(low: int, high: int, help_text: str = "") -> StrictIntegerField:
    return StrictIntegerField(min_value=low, max_value=high, required=False, allow_null=True, help_text=help_text)


def _nullable_bool(help_text: str = "") -> StrictBooleanField:
    return StrictBooleanField(required=False, allow_null=True, default=None, help_text=help_text)


class PolicyInputSerializer(serializers.Serializer):
    """The whole policy (PUT replaces it): a field left out or null has no say / inherits."""

    max_desktops = _nullable_int(0, 100)
    max_width = _nullable_int(1, 16384)  # the server's range: get_fields()
    max_height = _nullable_int(1, 16384)
    idle_timeout = _nullable_int(0, 10**8, "Seconds; 0: never.")
    max_lifetime = _nullable_int(0, 10**8, "Seconds; 0: no limit.")
    memory_bytes = _nullable_int(0, 1 << 50, "Bytes; 0: no limit.")
    cpus = StrictFloatField(min_value=0, max_value=1024, required=False, allow_null=True,
                            help_text="Cores; 0: no quota.")
    pids = _nullable_int(0, 10**7, "Processes and threads; 0: no limit.")
    restrict_profiles = _nullable_bool("true: only `profiles`; false: any profile.")
    profiles = StrictSlugRelatedField(slug_field="name", many=True, required=False,
                                      queryset=DesktopProfile.objects.all(), help_text="Profile names.")
    default_profile = StrictSlugRelatedField(slug_field="name", required=False, allow_null=True,
                                             queryset=DesktopProfile.objects.all(), help_text="A profile name.")
    browser_access = _nullable_bool()
    rdp_access = _nullable_bool()
    clipboard = StrictChoiceField(choices=Clipboard.choices, required=False, allow_null=True)
    file_upload = _nullable_bool()
    file_download = _nullable_bool()
    share_view = _nullable_bool()
    share_control = _nullable_bool()

    def get_fields(self):
        """The largest size allowed within the server's range of sizes (so the schema says it)."""
        fields = super().get_fields()
        (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
        fields["max_width"] = _nullable_int(min_w, max_w, "Pixels, within the server's range.")
        fields["max_height"] = _nullable_int(min_h, max_h, "Pixels, within the server's range.")
        return fields


USERNAME = RegexValidator(r"^[\w.@+-]+\Z", "Letters, digits and @/./+/-/_ only.")


class ProfileInputSerializer(serializers.Serializer):
    """A desktop profile; a PATCH gives only the fields it changes."""

    name = StrictSlugField(max_length=40)
    label = StrictCharField(max_length=100)
    description = StrictCharField(max_length=255, required=False, allow_blank=True)
    startup = StrictCharField(max_length=4000, required=False, allow_blank=True, trim_whitespace=False,
                              help_text="The session leader's shell command; empty: the server's default.")
    wayland = StrictBooleanField(required=False)
    default_width = StrictIntegerField(required=False, allow_null=True)  # the server's range: get_fields()
    default_height = StrictIntegerField(required=False, allow_null=True)
    icon = StrictCharField(max_length=64, required=False, allow_blank=True, help_text="A freedesktop icon name.")

    def get_fields(self):
        fields = super().get_fields()
        (min_w, min_h), (max_w, max_h) = settings.WRD_MIN_SIZE, settings.WRD_MAX_SIZE
        help_text = "The size a desktop of it starts at: both or neither; null: the server's default."
        fields["default_width"] = StrictIntegerField(min_value=min_w, max_value=max_w, required=False,
                                                     allow_null=True, help_text=help_text)
        fields["default_height"] = StrictIntegerField(min_value=min_h, max_value=max_h, required=False,
                                                      allow_null=True, help_text=help_text)
        return fields


def _valid(serializer_class: type[serializers.Serializer], request, **kwargs) -> dict:
    data = serializer_class(data=request.data, **kwargs)
    data.is_valid(raise_exception=True)
    return data.validated_data


# -- users ----------------------------------------------------------------------------------


class UserListApi(APIView):
    """GET: every user, by name. POST: a new user (201)."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        username = StrictCharField(max_length=150, validators=[USERNAME])
        password = StrictCharField(max_length=128, trim_whitespace=False)
        email = StrictEmailField(required=False, allow_blank=True, default="")
        is_staff = StrictBooleanField(required=False, default=False)
        groups = StrictSlugRelatedField(slug_field="name", many=True, required=False, queryset=Group.objects.all(),
                                        help_text="Group names.")

    @extend_schema(responses=UserOutputSerializer(many=True))
    def get(self, request):
        check_query(request, ())
        return Response([user_data(u) for u in selectors.user_list()])

    @extend_schema(request=InputSerializer, responses={201: UserDetailOutputSerializer})
    def post(self, request):
        data = _valid(self.InputSerializer, request)
        user = services.user_create(actor=request.user, address=client_address(request), **data)
        return Response(user_data(user, detail=True), status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    """GET: the user, their Unix account and home, override and effective policy. PATCH:
    ``is_active`` and/or ``groups``. DELETE (``?with_home=true``: their Unix account and home
    too; their desktops are stopped)."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        is_active = StrictBooleanField(required=False, help_text="false: the user cannot sign in.")
        groups = StrictSlugRelatedField(slug_field="name", many=True, required=False, queryset=Group.objects.all(),
                                        help_text="Group names: the whole list.")

    class DeleteQuerySerializer(serializers.Serializer):
        with_home = serializers.BooleanField(required=False, default=False,
                                             help_text="Remove their Unix account and home too.")

    @extend_schema(responses=UserDetailOutputSerializer)
    def get(self, request, user_id: int):
        return Response(user_data(_user(user_id), detail=True))

    @extend_schema(request=InputSerializer, responses=UserDetailOutputSerializer)
    def patch(self, request, user_id: int):
        user = _user(user_id)
        data = _valid(self.InputSerializer, request)
        if "is_active" in data:
            services.user_set_active(actor=request.user, user=user, active=data["is_active"],
                                     address=client_address(request))
        if "groups" in data:
            services.user_set_groups(actor=request.user, user=user, groups=data["groups"],
                                     address=client_address(request))
        return Response(user_data(_user(user_id), detail=True))

    @extend_schema(parameters=[DeleteQuerySerializer], responses={204: None})
    def delete(self, request, user_id: int):
        check_query(request, self.DeleteQuerySerializer().fields)
        query = self.DeleteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        services.user_delete(actor=request.user, user=_user(user_id), address=client_address(request),
                             with_home=query.validated_data["with_home"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserPasswordApi(APIView):
    """A new password for the user (204); the server's password rules apply."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        password = StrictCharField(max_length=128, trim_whitespace=False)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request, user_id: int):
        user = _user(user_id)
        data = _valid(self.InputSerializer, request)
        services.user_set_password(actor=request.user, user=user, address=client_address(request), **data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _PolicyApi(APIView):
    """GET: the policy (every field null and no profiles where none is set); PUT: the whole
    policy; DELETE: none any more (204)."""

    permission_classes = [IsStaff]

    def _owner(self, **kwargs) -> dict:
        raise NotImplementedError

    @extend_schema(responses=PolicyOutputSerializer)
    def get(self, request, **kwargs):
        policy = selectors.policy_of(**self._owner(**kwargs))
        return Response(PolicyOutputSerializer(policy_data(policy) or NO_POLICY).data)

    @extend_schema(request=PolicyInputSerializer, responses=PolicyOutputSerializer)
    def put(self, request, **kwargs):
        owner = self._owner(**kwargs)
        data = _valid(PolicyInputSerializer, request)
        policy = services.policy_set(actor=request.user, data=data, address=client_address(request), **owner)
        return Response(PolicyOutputSerializer(policy_data(policy)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, **kwargs):
        services.policy_clear(actor=request.user, address=client_address(request), **self._owner(**kwargs))
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
    """GET: every group, by name, with its members and policy. POST: a new group (201)."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=150)

    @extend_schema(responses=GroupOutputSerializer(many=True))
    def get(self, request):
        check_query(request, ())
        return Response([group_data(g) for g in selectors.group_list()])

    @extend_schema(request=InputSerializer, responses={201: GroupOutputSerializer})
    def post(self, request):
        data = _valid(self.InputSerializer, request)
        group = services.group_create(actor=request.user, address=client_address(request), **data)
        return Response(group_data(group), status=status.HTTP_201_CREATED)


class GroupDetailApi(APIView):
    """GET; PATCH ``members`` (user names: the whole list; left out: unchanged); DELETE (its
    members stay)."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        members = StrictSlugRelatedField(slug_field="username", many=True, required=False,
                                         queryset=get_user_model().objects.all(),
                                         help_text="User names: the whole list.")

    @extend_schema(responses=GroupOutputSerializer)
    def get(self, request, group_id: int):
        return Response(group_data(_group(group_id)))

    @extend_schema(request=InputSerializer, responses=GroupOutputSerializer)
    def patch(self, request, group_id: int):
        group = _group(group_id)
        data = _valid(self.InputSerializer, request)
        if "members" in data:
            services.group_set_members(actor=request.user, group=group, members=data["members"],
                                       address=client_address(request))
        return Response(group_data(group))

    @extend_schema(responses={204: None})
    def delete(self, request, group_id: int):
        services.group_delete(actor=request.user, group=_group(group_id), address=client_address(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- profiles -------------------------------------------------------------------------------


class ProfileListApi(APIView):
    """GET: every desktop profile, by name. POST: a new one (201)."""

    permission_classes = [IsStaff]

    @extend_schema(responses=ProfileOutputSerializer(many=True))
    def get(self, request):
        check_query(request, ())
        return Response(ProfileOutputSerializer(selectors.profile_list(), many=True).data)

    @extend_schema(request=ProfileInputSerializer, responses={201: ProfileOutputSerializer})
    def post(self, request):
        data = _valid(ProfileInputSerializer, request)
        profile = services.profile_save(actor=request.user, data=data, address=client_address(request))
        return Response(ProfileOutputSerializer(profile).data, status=status.HTTP_201_CREATED)


class ProfileDetailApi(APIView):
    """GET; PATCH (only the fields given); DELETE (desktops started from it keep running)."""

    permission_classes = [IsStaff]

    @extend_schema(responses=ProfileOutputSerializer)
    def get(self, request, profile_id: int):
        return Response(ProfileOutputSerializer(_profile(profile_id)).data)

    @extend_schema(request=ProfileInputSerializer(partial=True), responses=ProfileOutputSerializer)
    def patch(self, request, profile_id: int):
        profile = _profile(profile_id)
        data = _valid(ProfileInputSerializer, request, partial=True)
        profile = services.profile_save(actor=request.user, profile=profile, data=data,
                                        address=client_address(request))
        return Response(ProfileOutputSerializer(profile).data)

    @extend_schema(responses={204: None})
    def delete(self, request, profile_id: int):
        services.profile_delete(actor=request.user, profile=_profile(profile_id), address=client_address(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
