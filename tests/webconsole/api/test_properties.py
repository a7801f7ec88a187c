"""Property tests of what reads client input here: the audit filters (any query string), the
token header (any bytes) and the error body (any nesting of DRF's error details)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory

from webconsole.api.authentication import ApiTokenAuthentication
from webconsole.api.errors import _flatten, api_exception_handler
from webconsole.audit import selectors

pytestmark = pytest.mark.django_db
FILTERS = ("actor", "action", "target", "address", "since", "until", "page")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(FILTERS), st.text(max_size=60)))
def test_audit_filters_take_any_text_and_answer_or_say_why(query):
    form = selectors.AuditFilterForm(query)
    if form.is_valid():
        list(selectors.audit_search(**form.cleaned_data)[:5])
    else:
        assert set(form.errors) <= {*FILTERS, "__all__"}
        assert all(isinstance(m, str) and m for ms in form.errors.values() for m in ms)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=120))
def test_any_authorization_header_is_no_login_or_a_clean_refusal(header):
    request = APIRequestFactory().get("/api/v1/me/", HTTP_AUTHORIZATION=header.decode("latin-1"))
    try:
        result = ApiTokenAuthentication().authenticate(request)
    except (exceptions.AuthenticationFailed, exceptions.Throttled):
        return
    assert result is None  # no token of anybody matches random bytes


details = st.recursive(st.text(max_size=10), lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)


@given(details)
def test_the_error_body_flattens_any_detail_into_lists_of_strings(detail):
    flat = _flatten(detail)
    assert all(isinstance(k, str) and isinstance(v, list) and all(isinstance(m, str) for m in v)
               for k, v in flat.items())
    response = api_exception_handler(exceptions.ValidationError(detail), {})
    assert response.status_code == 400 and isinstance(response.data["detail"], str)
    assert response.data["code"] and set(response.data) <= {"detail", "code", "fields"}
