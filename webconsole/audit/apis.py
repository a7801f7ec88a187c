"""The audit log through the API (staff only), with the page's filters."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from webconsole.api.access import IsStaff
from webconsole.api.query import check_query
from webconsole.audit import selectors
from webconsole.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", help_text="User name (kept after the user is gone).")
    details = serializers.DictField(help_text="What else is known: door, duration_s, width, ...")

    class Meta:
        model = AuditEvent
        fields = ("id", "at", "actor", "action", "target_type", "target_id", "target_label", "address", "details")


FILTERS = [
    OpenApiParameter("actor", str, description="User name, exact."),
    OpenApiParameter("action", str, description="An action (login.failed) or its family (login)."),
    OpenApiParameter("target", str, description="type, type:id, or words of the target's label."),
    OpenApiParameter("address", str, description="Source address or its beginning."),
    OpenApiParameter("since", str, description="From this date or date and time (UTC), inclusive."),
    OpenApiParameter("until", str, description="Up to this date or date and time (UTC), inclusive."),
]


class AuditListApi(generics.ListAPIView):
    """Audit events, newest first, filtered; paged."""

    permission_classes = [IsStaff]
    serializer_class = AuditEventSerializer

    def get_queryset(self):
        check_query(self.request, selectors.AuditFilterForm.base_fields)
        form = selectors.AuditFilterForm(self.request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(
                {k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})
        return selectors.audit_search(**form.cleaned_data)

    @extend_schema(parameters=FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
