"""The start form's size field: a parser of what a browser sends."""

from __future__ import annotations

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from webconsole.dashboard.profiles import parse_size, size_choices


@given(st.text(max_size=40))
def test_parse_size_gives_two_ints_or_value_error(text):
    try:
        width, height = parse_size(text)
    except ValueError:
        return
    assert isinstance(width, int) and isinstance(height, int)
    assert parse_size(f"{width}x{height}") == (width, height)


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_parse_size_round_trips(width, height):
    assert parse_size(f" {width}X{height} ") == (width, height)


@pytest.mark.parametrize("bad", ["", "1280", "x800", "1280x", "1280x800x2", "a x b", "1280*800"])
def test_parse_size_refuses(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


@pytest.mark.django_db
@override_settings(WRD_DEFAULT_SIZE=(1280, 800), WRD_MIN_SIZE=(640, 480), WRD_MAX_SIZE=(1920, 1080))
def test_size_choices_are_allowed_and_start_with_the_default():
    from django.contrib.auth.models import User

    from webconsole.policies.models import Policy

    user = User.objects.create_user("sizes")
    sizes = size_choices(user=user)
    assert sizes[0] == "1280x800" and len(sizes) == len(set(sizes))
    assert "2560x1440" not in sizes and "1920x1080" in sizes
    # The user's policy narrows them: nothing above its maximum, not even the default.
    Policy.objects.create(user=user, max_width=1024, max_height=768)
    assert size_choices(user=user) == ["1024x768"]
