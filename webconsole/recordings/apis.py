"""REST API of recordings: list a desktop's, start and stop (admins), fetch the file."""

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from webconsole.api.access import IsStaff
from webconsole.desktops import selectors as desktop_selectors
from webconsole.recordings import selectors, services
from webconsole.recordings.models import Recording


class RecordingOutputSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", default=None)

    class Meta:
        model = Recording
        fields = ("id", "desktop", "state", "file", "started_at", "ended_at", "size", "duration", "has_audio",
                  "requested_by", "error")


def _recording(request, recording_id: int) -> Recording:
    recording = selectors.recording_get_for_user(user=request.user, recording_id=recording_id)
    if recording is None:
        raise Http404("no such recording")
    return recording


class RecordingListApi(APIView):
    @extend_schema(responses=RecordingOutputSerializer(many=True))
    def get(self, request, desktop_id: int):
        desktop = selectors.desktop_for_history(user=request.user, desktop_id=desktop_id)
        if desktop is None:
            raise Http404("no such desktop")
        return Response(RecordingOutputSerializer(
            selectors.recording_list(user=request.user, desktop=desktop), many=True).data)


class RecordingStartApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={202: RecordingOutputSerializer})
    def post(self, request, desktop_id: int):
        desktop = desktop_selectors.desktop_get_for_user(user=request.user, desktop_id=desktop_id)
        if desktop is None:
            raise Http404("no such desktop")
        try:
            recording = services.recording_start(desktop=desktop, user=request.user)
        except ValidationError as exc:
            raise exceptions.ValidationError({"detail": exc.messages}) from None
        return Response(RecordingOutputSerializer(recording).data, status=status.HTTP_202_ACCEPTED)


class RecordingStopApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={202: RecordingOutputSerializer})
    def post(self, request, recording_id: int):
        recording = _recording(request, recording_id)
        services.recording_stop(recording=recording, user=request.user)
        recording.refresh_from_db()
        return Response(RecordingOutputSerializer(recording).data, status=status.HTTP_202_ACCEPTED)


class RecordingFileApi(APIView):
    error_codes = (416,)

    @extend_schema(responses={
        (200, "video/mp4"): OpenApiResponse(OpenApiTypes.BINARY, description="The recording"),
        (206, "video/mp4"): OpenApiResponse(OpenApiTypes.BINARY, description="The range asked")})
    def get(self, request, recording_id: int):
        from webconsole.recordings.views import file_response

        return file_response(request, _recording(request, recording_id))
