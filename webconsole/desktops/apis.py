"""REST API: one class per operation, nested input/output serializers."""

import dataclasses

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from compositor import messages
from compositor.client import HostError
from webconsole.api.access import IsStaff, get_visible_or_404, visible_to
from webconsole.api.authentication import client_address
from webconsole.api.errors import json_error
from webconsole.api.fields import StrictCharField, StrictIntegerField, StrictSlugField
from webconsole.api.query import check_query
from webconsole.desktops import selectors, services
from webconsole.desktops.models import ACTIVE_STATES, DesktopSession, DesktopState

USAGE_SCHEMA = {
    "type": "object", "nullable": True,
    "description": "Resource use from the desktop's cgroup; null when not running or not measured.",
    "additionalProperties": True,
}


class DesktopOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    usage = serializers.SerializerMethodField()
    attached = serializers.BooleanField(source="is_attached", read_only=True)

    class Meta:
        model = DesktopSession
        fields = ("id", "owner", "name", "width", "height", "state", "failure_reason", "node", "display",
                  "created_at", "started_at", "stopped_at", "last_activity_at", "unix_user", "uid",
                  "containment", "private_tmp", "notice", "usage", "attached")

    @extend_schema_field(USAGE_SCHEMA)
    def get_usage(self, session: DesktopSession) -> dict | None:
        usage = selectors.desktop_usage(session=session)
        return None if usage is None else dataclasses.asdict(usage)


def _get(request, desktop_id: int) -> DesktopSession:
    """The desktop if the caller may see it (owner or staff); 404 alike for others' and missing ones."""
    return get_visible_or_404(DesktopSession.objects.select_related("owner"), request.user, what="desktop",
                              pk=desktop_id)


class DesktopListApi(generics.ListAPIView):
    """Your desktops, newest first, filtered and paged. Staff add ``everyone=true`` (or
    ``owner=<name>``) to see other users' desktops. The unversioned ``/api/desktops/`` answers
    the whole list unpaged, as it did before ``/api/v1/``."""

    serializer_class = DesktopOutputSerializer

    class FilterSerializer(serializers.Serializer):
        state = serializers.MultipleChoiceField(choices=DesktopState.choices, required=False, allow_empty=False,
                                                help_text="One or more states, comma-separated.")
        all = serializers.BooleanField(required=False, default=True,
                                       help_text="false: only active desktops (requested to stopping).")
        everyone = serializers.BooleanField(required=False, default=False, help_text="Staff: every user's.")
        owner = serializers.CharField(required=False, max_length=150, help_text="Staff: this user's desktops.")
        name = serializers.CharField(required=False, max_length=100, help_text="Words of the name.")
        node = serializers.CharField(required=False, max_length=255)

        def to_internal_value(self, data):
            states = data.getlist("state") if hasattr(data, "getlist") else [data.get("state", "")]
            data = {k: data.get(k) for k in self.fields if k in data}
            if "state" in data:  # every value given, each comma-separated; an empty one is an error too
                data["state"] = [s for value in states for s in str(value).split(",")]
            return super().to_internal_value(data)

    def get_queryset(self):
        check_query(self.request, self.FilterSerializer().fields)
        f = self.FilterSerializer(data=self.request.query_params)
        f.is_valid(raise_exception=True)
        f = f.validated_data
        user = self.request.user
        if user.is_staff and (f["everyone"] or f.get("owner")):
            qs = visible_to(DesktopSession.objects.all(), user)
            if f.get("owner"):
                qs = qs.filter(owner__username=f["owner"])
        else:
            qs = selectors.desktop_list(user=user, include_ended=True)
        if not f["all"]:
            qs = qs.filter(state__in=ACTIVE_STATES)
        if f.get("state"):
            qs = qs.filter(state__in=sorted(f["state"]))
        if f.get("name"):
            qs = qs.filter(name__icontains=f["name"])
        if f.get("node"):
            qs = qs.filter(node=f["node"])
        return qs.select_related("owner").order_by("-created_at", "-id")

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        if request.resolver_match and request.resolver_match.namespace == "api-legacy":
            return Response(DesktopOutputSerializer(self.get_queryset(), many=True).data)
        return super().get(request, *args, **kwargs)


class DesktopCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        width = StrictIntegerField(required=False)
        height = StrictIntegerField(required=False)
        name = StrictCharField(required=False, allow_blank=True, max_length=100)
        profile = StrictSlugField(required=False, max_length=40)

    @extend_schema(request=InputSerializer, responses={202: DesktopOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.desktop_create(user=request.user, address=client_address(request), **data.validated_data)
        return Response(DesktopOutputSerializer(session).data, status=status.HTTP_202_ACCEPTED)


class DesktopAttachApi(APIView):
    """Staff serve an existing X display as a desktop of ``owner``."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        display = StrictCharField(max_length=64)
        xauthority = StrictCharField(max_length=1024)
        owner = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all())
        name = StrictCharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(request=InputSerializer, responses={202: DesktopOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.desktop_attach(user=request.user, address=client_address(request), **data.validated_data)
        return Response(DesktopOutputSerializer(session).data, status=status.HTTP_202_ACCEPTED)


class DesktopDetailApi(APIView):
    @extend_schema(responses=DesktopOutputSerializer)
    def get(self, request, desktop_id: int):
        return Response(DesktopOutputSerializer(_get(request, desktop_id)).data)


class DesktopStopApi(APIView):
    @extend_schema(request=None, responses={202: DesktopOutputSerializer})
    def post(self, request, desktop_id: int):
        session = services.desktop_stop_request(session=_get(request, desktop_id), user=request.user,
                                                address=client_address(request))
        return Response(DesktopOutputSerializer(session).data, status=status.HTTP_202_ACCEPTED)


class DesktopRestartApi(APIView):
    """Start the desktop afresh with the same id, owner, size and name: a running one is
    stopped and started again, a stopped or failed one started again (202; watch ``state``)."""

    @extend_schema(request=None, responses={202: DesktopOutputSerializer})
    def post(self, request, desktop_id: int):
        session = services.desktop_restart(session=_get(request, desktop_id), user=request.user,
                                           address=client_address(request))
        return Response(DesktopOutputSerializer(session).data, status=status.HTTP_202_ACCEPTED)


class DesktopResizeApi(APIView):
    class InputSerializer(serializers.Serializer):
        width = StrictIntegerField()
        height = StrictIntegerField()

    @extend_schema(request=InputSerializer, responses=DesktopOutputSerializer)
    def post(self, request, desktop_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.desktop_resize(session=_get(request, desktop_id), user=request.user,
                                          address=client_address(request), **data.validated_data)
        return Response(DesktopOutputSerializer(session).data)


class DesktopScreenshotApi(APIView):
    error_codes = (409, 502)

    @extend_schema(responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG image")})
    def get(self, request, desktop_id: int):
        return screenshot_response(_get(request, desktop_id), api=True)


def screenshot_response(session: DesktopSession, *, api: bool = False) -> HttpResponse:
    """The desktop's screen as PNG; 409 when it is not running, 502 when its host does not
    answer (a JSON error body on the API, plain text on the console)."""
    def error(code: int, text: str, kind: str) -> HttpResponse:
        return json_error(code, text, kind) if api else HttpResponse(text, status=code, content_type="text/plain")

    if session.state != DesktopState.RUNNING:
        return error(409, f"desktop is {session.state}", "state")
    try:
        with services.host_client_for(session) as client:
            png = client.call(messages.Screenshot()).png
    except HostError as exc:
        return error(502, f"screenshot failed: {exc}", "host")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "no-store"
    return response
