"""REST API of file transfer (docs/files.md): resumable uploads in the style of tus
(create with a declared name and size, PATCH chunks at ``Upload-Offset``, HEAD says where to
resume) and streamed downloads with single byte ranges. One class per operation; the work is
in ``webconsole.desktops.files``."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compositor import messages
from webconsole.api.errors import error_body
from webconsole.api.fields import StrictCharField, StrictIntegerField
from webconsole.desktops import files
from webconsole.desktops.apis import _get
from webconsole.desktops.models import DesktopSession

OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
TRANSFER_ERRORS = (409, 411, 413, 415, 416, 502)

UPLOAD_STATE = inline_serializer("UploadState", {
    "offset": serializers.IntegerField(), "complete": serializers.BooleanField(),
    "stored_as": serializers.CharField(allow_null=True, help_text="The file's name in ~/Downloads once complete.")})
UPLOAD_CREATED = inline_serializer("UploadCreated", {
    "url": serializers.CharField(), "name": serializers.CharField(), "size": serializers.IntegerField(),
    "offset": serializers.IntegerField(), "complete": serializers.BooleanField(),
    "stored_as": serializers.CharField(allow_null=True)})
UPLOAD_WHERE = inline_serializer("UploadWhere", {
    "name": serializers.CharField(), "size": serializers.IntegerField(), "offset": serializers.IntegerField()})
FILE_LIST = inline_serializer("DownloadList", {"files": inline_serializer("DownloadFile", {
    "name": serializers.CharField(), "size": serializers.IntegerField(), "mtime": serializers.FloatField(),
    "url": serializers.CharField()}, many=True)})


def _refused(exc: files.TransferRefused) -> Response:
    response = Response(error_body(str(exc), "refused"), status=exc.status)
    if exc.offset is not None:
        response["Upload-Offset"] = str(exc.offset)
    return response


def _api_root(request: Request) -> str:
    """The mount the request came through: URLs handed back stay on it (``/api/v1/`` or the
    unversioned ``/api/`` that the browser viewer uses)."""
    match = request.resolver_match
    return "/api/" if match is not None and match.namespace == "api-legacy" else "/api/v1/"


def _upload_url(request: Request, upload: files.Upload) -> str:
    return f"{_api_root(request)}desktops/{upload.desktop}/uploads/{upload.token}"


class UploadCreateApi(APIView):
    """POST {name, size}: a new upload; its URL takes the chunks."""

    error_codes = TRANSFER_ERRORS

    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=1024, trim_whitespace=False)
        size = StrictIntegerField(min_value=0)

    @extend_schema(request=InputSerializer, responses={201: UPLOAD_CREATED})
    def post(self, request: Request, desktop_id: int) -> Response:
        session = _get(request, desktop_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            upload, reply = files.upload_create(session=session, user=request.user, **data.validated_data)
        except files.TransferRefused as exc:
            return _refused(exc)
        url = _upload_url(request, upload)
        response = Response({"url": url, "name": upload.name, "size": upload.size, "offset": reply.offset,
                             "complete": reply.name is not None, "stored_as": reply.name},
                            status=status.HTTP_201_CREATED)
        response["Location"] = url
        response["Upload-Offset"] = str(reply.offset)
        response["Upload-Length"] = str(upload.size)
        return response


class UploadApi(APIView):
    """HEAD/GET: where the upload is (``Upload-Offset``). PATCH: the next chunk, its body
    ``application/offset+octet-stream`` written at the ``Upload-Offset`` header."""

    error_codes = TRANSFER_ERRORS

    def _upload(self, request: Request, desktop_id: int, token: str) -> tuple[DesktopSession, files.Upload]:
        session = _get(request, desktop_id)
        return session, files.upload_from_token(session=session, user=request.user, token=token)

    @extend_schema(responses=UPLOAD_WHERE)
    def get(self, request: Request, desktop_id: int, token: str) -> Response:
        try:
            session, upload = self._upload(request, desktop_id, token)
            offset = files.upload_offset(session=session, user=request.user, upload=upload)
        except files.TransferRefused as exc:
            return _refused(exc)
        response = Response({"name": upload.name, "size": upload.size, "offset": offset})
        response["Upload-Offset"] = str(offset)
        response["Upload-Length"] = str(upload.size)
        response["Cache-Control"] = "no-store"
        return response

    def head(self, request: Request, desktop_id: int, token: str) -> Response:
        return self.get(request, desktop_id, token)

    @extend_schema(request={OFFSET_CONTENT_TYPE: OpenApiTypes.BINARY}, responses=UPLOAD_STATE)
    def patch(self, request: Request, desktop_id: int, token: str) -> Response:
        try:
            session, upload = self._upload(request, desktop_id, token)
            offset, length = self._chunk(request, session)
            reply = files.upload_write(session=session, user=request.user, upload=upload, offset=offset,
                                       length=length, body=request._request)
        except files.TransferRefused as exc:
            return _refused(exc)
        response = Response({"offset": reply.offset, "complete": reply.name is not None, "stored_as": reply.name})
        response["Upload-Offset"] = str(reply.offset)
        return response

    @staticmethod
    def _chunk(request: Request, session: DesktopSession) -> tuple[int, int]:
        """The chunk's offset and length from its headers, refused before its body is read."""
        user = request.user
        if request.content_type != OFFSET_CONTENT_TYPE:
            raise files.refuse(415, f"a chunk's type is {OFFSET_CONTENT_TYPE}", session, user)
        offset, length = request.headers.get("Upload-Offset", ""), request.META.get("CONTENT_LENGTH") or ""
        if not offset.isdigit() or len(offset) > 16:
            raise files.refuse(400, "a chunk needs an Upload-Offset header (a byte count)", session, user)
        if not length.isdigit() or len(length) > 16:
            raise files.refuse(411, "a chunk needs a Content-Length", session, user)
        limit = min(settings.WRD_UPLOAD_CHUNK_BYTES, messages.MAX_FILE_CHUNK)
        if int(length) > limit:
            raise files.refuse(413, f"a chunk of {length} bytes is over {limit}", session, user)
        return int(offset), int(length)


class FileListApi(APIView):
    """GET: the files of the desktop's ``~/Downloads``, each with its download URL."""

    error_codes = TRANSFER_ERRORS

    @extend_schema(responses=FILE_LIST)
    def get(self, request: Request, desktop_id: int) -> Response:
        session = _get(request, desktop_id)
        try:
            listed = files.download_list(session=session, user=request.user)
        except files.TransferRefused as exc:
            return _refused(exc)
        from urllib.parse import quote

        return Response({"files": [
            {"name": f.name, "size": f.size, "mtime": f.mtime,
             "url": f"{_api_root(request)}desktops/{session.pk}/files/{quote(f.name, safe='')}"}
            for f in listed]})


class FileDownloadApi(APIView):
    """GET: one file of ``~/Downloads``, streamed from the host; ``Range: bytes=a-b`` (one range)
    answers 206."""

    error_codes = TRANSFER_ERRORS

    @extend_schema(responses={
        (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file"),
        (206, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The range asked")})
    def get(self, request: Request, desktop_id: int, name: str) -> HttpResponse:
        session = _get(request, desktop_id)
        try:
            size = files.download_size(session=session, user=request.user, name=name)
        except files.TransferRefused as exc:
            return _refused(exc)
        start, end, partial = 0, size, False
        if (header := request.headers.get("Range")) is not None:
            match = _RANGE.fullmatch(header.strip())
            if match and match.group(1):
                start = int(match.group(1))
                end = min(size, int(match.group(2)) + 1) if match.group(2) else size
                partial = True
            elif match and match.group(2):  # the last n bytes
                start, partial = max(0, size - int(match.group(2))), True
            if partial and not start < end:
                response = HttpResponse(status=416)
                response["Content-Range"] = f"bytes */{size}"
                return response
        response = StreamingHttpResponse(
            files.download_stream(session=session, name=name, start=start, end=end),
            content_type="application/octet-stream", status=206 if partial else 200)
        response["Content-Length"] = str(end - start)
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        if partial:
            response["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        return response
