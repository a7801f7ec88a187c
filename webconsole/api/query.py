"""Query strings are input too: a list endpoint answers 400 for a parameter it does not know
(a misspelt filter silently ignored would return everything)."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions

PAGING = ("page", "page_size")


def check_query(request, allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.query_params) - set(allowed) - set(PAGING))
    if unknown:
        raise exceptions.ValidationError({name: ["Unknown parameter."] for name in unknown})
