"""The admins' audit log page and its CSV export."""

from __future__ import annotations

import csv

from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from webconsole.audit import selectors

PAGE_SIZE = 50


class _Echo:
    """A file-like object whose ``write`` returns the line, for a streamed ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


@staff_member_required
@require_GET
def audit_list_view(request):
    form = selectors.AuditFilterForm(request.GET or None)
    valid = form.is_valid() if request.GET else True
    filters = form.cleaned_data if request.GET and valid else {}
    page = Paginator(selectors.audit_search(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/list.html", {
        "form": form, "page": page, "query": query.urlencode(), "actions": selectors.audit_actions()},
        status=200 if valid else 400)


@staff_member_required
@require_GET
def audit_export_view(request):
    """The filtered log as CSV, streamed row by row (a long log is never held in memory)."""
    form = selectors.AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return render(request, "audit/list.html", {"form": form, "page": None, "query": "",
                                                   "actions": selectors.audit_actions()}, status=400)
    rows = selectors.audit_rows(selectors.audit_search(**(form.cleaned_data if request.GET else {})))
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in _with_header(rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="wrd-audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response


def _with_header(rows):
    yield list(selectors.CSV_COLUMNS)
    yield from rows
