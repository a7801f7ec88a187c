"""REST API: one class per operation, nested input/output serializers."""

import dataclasses

from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from compositor import messages
from compositor.client import HostError
from webconsole.desktops import selectors, services
from webconsole.desktops.models import DesktopSession, DesktopState


class DesktopOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    usage = serializers.SerializerMethodField()
    attached = serializers.BooleanField(source="is_attached", read_only=True)

    class Meta:
        model = DesktopSession
        fields = ("id", "owner", "name", "width", "height", "state", "failure_reason", "node", "display",
                  "created_at", "started_at", "stopped_at", "last_activity_at", "unix_user", "uid",
                  "containment", "private_tmp", "notice", "usage", "attached")

    def get_usage(self, session: DesktopSession) -> dict | None:
        usage = selectors.desktop_usage(session=session)
        return None if usage is None else dataclasses.asdict(usage)


def _get(request, desktop_id: int) -> DesktopSession:
    session = selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
    if session is None:
        raise Http404("no such desktop")
    return session


class DesktopListApi(APIView):
    def get(self, request):
        include_ended = request.query_params.get("all") in ("1", "true")
        qs = selectors.desktop_list(user=request.user, include_ended=include_ended)
        return Response(DesktopOutputSerializer(qs, many=True).data)


class DesktopCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        width = serializers.IntegerField(required=False)
        height = serializers.IntegerField(required=False)
        name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        profile = serializers.SlugField(required=False, max_length=40)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.desktop_create(user=request.user, **data.validated_data)
        return Response(DesktopOutputSerializer(session).data, status=status.HTTP_202_ACCEPTED)


class DesktopAttachApi(APIView):
    """Staff serve an existing X display as a desktop of ``owner``."""

    permission_classes = [IsAdminUser]

    class InputSerializer(serializers.Serializer):
        display = serializers.CharField(max_length=64)
        xauthority = serializers.CharField(max_length=1024)
        owner = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all())
        name = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.desktop_attach(user=request.user, **data.validated_data)
        return Response(DesktopOutputSerializer(session).data, status=status.HTTP_202_ACCEPTED)


class DesktopDetailApi(APIView):
    def get(self, request, desktop_id: int):
        return Response(DesktopOutputSerializer(_get(request, desktop_id)).data)


class DesktopStopApi(APIView):
    def post(self, request, desktop_id: int):
        session = services.desktop_stop_request(session=_get(request, desktop_id), user=request.user)
        return Response(DesktopOutputSerializer(session).data, status=status.HTTP_202_ACCEPTED)


class DesktopResizeApi(APIView):
    class InputSerializer(serializers.Serializer):
        width = serializers.IntegerField()
        height = serializers.IntegerField()

    def post(self, request, desktop_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.desktop_resize(session=_get(request, desktop_id), user=request.user,
                                          **data.validated_data)
        return Response(DesktopOutputSerializer(session).data)


class DesktopScreenshotApi(APIView):
    def get(self, request, desktop_id: int):
        return screenshot_response(_get(request, desktop_id))


def screenshot_response(session: DesktopSession) -> HttpResponse:
    if session.state != DesktopState.RUNNING:
        return HttpResponse(f"desktop is {session.state}", status=409, content_type="text/plain")
    try:
        with services.host_client_for(session) as client:
            png = client.call(messages.Screenshot()).png
    except HostError as exc:
        return HttpResponse(f"screenshot failed: {exc}", status=502, content_type="text/plain")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "no-store"
    return response
