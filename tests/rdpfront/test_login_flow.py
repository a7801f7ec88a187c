"""``LoginFlow``: each step of a login with the Client Info's password and through the login
form, driven by hand as the driver would (authentication and attaching answered here)."""

from __future__ import annotations

import pytest

from compositor import messages
from rdpfront import events
from rdpfront.login import LOGIN_ATTEMPTS
from rdpfront.login_flow import (
    Accept,
    Attach,
    Authenticate,
    Connect,
    Disconnect,
    Enter,
    InputBudget,
    LoginFlow,
    Reject,
    ShowForm,
)
from rdpfront.rdp.pdus import ErrorInfo

from .helpers import credentials_event

ENTER_KEY = events.KeyboardEvent(0x1C, False, True)
A_KEY = events.KeyboardEvent(0x1E, False, True)


def _flow(**options: object) -> LoginFlow:
    return LoginFlow(max_width=1920, max_height=1200, **options)  # type: ignore[arg-type]


def test_client_info_password_authenticates_attaches_connects_and_accepts() -> None:
    flow = _flow()
    assert flow.credentials(credentials_event(size=(4000, 100), layout=0x407)) == Authenticate("alice", "secret")
    assert flow.authenticated(True) == Attach("alice", 1920, 200)  # held within the server's bounds
    step = flow.attached("/run/host.sock")
    assert step == Connect("/run/host.sock", messages.Exec(argv=("setxkbmap", "-layout", "de")))
    assert flow.connected() == Accept()
    assert flow.form is None and flow.take_image() is None


def test_wrong_password_and_no_user_name_are_rejected(caplog) -> None:
    flow = _flow()
    flow.credentials(credentials_event(password="wrong"))
    assert flow.authenticated(False) == Reject(ErrorInfo.SERVER_DENIED_CONNECTION)
    assert "login rejected user='alice'" in caplog.text
    assert _flow().credentials(credentials_event(username="")) == Reject(ErrorInfo.SERVER_DENIED_CONNECTION)


def test_no_desktop_is_a_rejection(caplog) -> None:
    flow = _flow()
    flow.credentials(credentials_event())
    flow.authenticated(True)
    assert flow.attach_failed(RuntimeError("limit reached")) == Reject(ErrorInfo.SERVER_INSUFFICIENT_PRIVILEGES)
    assert "no desktop for user='alice': limit reached" in caplog.text


@pytest.mark.parametrize(("options", "layout"), [({"apply_keyboard_layout": False}, 0x407), ({}, 0x12345)])
def test_keyboard_layout_left_alone(options: dict, layout: int) -> None:
    flow = _flow(**options)
    flow.credentials(credentials_event(layout=layout))
    flow.authenticated(True)
    assert flow.attached("/s").keyboard is None


def test_the_input_budget_allows_a_burst_then_a_rate() -> None:
    budget = InputBudget(burst=10, rate=100.0)
    assert all(budget.take(0.0) for _ in range(10)) and not budget.take(0.0)
    assert budget.take(0.011) and not budget.take(0.011)  # one more after 10 ms
    assert sum(budget.take(5.0) for _ in range(20)) == 10  # never more than the burst


def test_no_password_without_the_login_screen_asks_anyway() -> None:
    assert _flow(login_screen=False).credentials(credentials_event(password="")) == Authenticate("alice", "")


def test_the_form_is_shown_at_the_clients_size() -> None:
    flow = _flow()
    assert flow.credentials(credentials_event(password="", size=(100, 5000))) == ShowForm(200, 1200)
    taken = flow.take_image()
    assert taken is not None
    image, area = taken
    assert image.shape == (1200, 200, 4) and area == (0, 0, 200, 1200)  # all of it, the first time
    assert flow.take_image() is None  # nothing changed since
    assert flow.form is not None and flow.form.username == "alice"


def test_typing_submits_and_a_good_login_enters_the_session() -> None:
    flow = _flow()
    flow.credentials(credentials_event(password=""))
    flow.take_image()
    flow.text("p")
    assert flow.key(A_KEY) is None and flow.changed
    image, area = flow.take_image()
    assert area == flow.form.box() and area[2] < image.shape[1]  # only the panel is redrawn
    assert not flow.changed
    assert flow.key(events.KeyboardEvent(0x1E, False, False)) is None and flow.take_image() is None  # key up
    assert flow.key(ENTER_KEY) == Authenticate("alice", "pa")
    assert flow.form.busy and flow.take_image() is not None  # "Logging in…"
    assert flow.authenticated(True) == Attach("alice", 800, 600)
    assert isinstance(flow.attached("/s"), Connect) and flow.form is None
    assert flow.connected() == Enter()
    assert flow.timed_out() is None  # too late: logged in


def test_wrong_passwords_in_the_form_until_the_attempts_run_out(caplog) -> None:
    flow = _flow()
    flow.credentials(credentials_event(password=""))
    for attempt in range(1, LOGIN_ATTEMPTS):
        flow.text("x")
        assert isinstance(flow.key(ENTER_KEY), Authenticate)
        assert flow.authenticated(False) is None  # the form asks again
        assert flow.form.message == "Wrong user name or password" and flow.take_image() is not None
        assert f"login form: rejected user='alice' ({attempt})" in caplog.text
    flow.text("x")
    flow.key(ENTER_KEY)
    assert flow.authenticated(False) == Disconnect(ErrorInfo.SERVER_DENIED_CONNECTION)


def test_no_desktop_from_the_form_lets_the_user_try_again() -> None:
    flow = _flow()
    flow.credentials(credentials_event(password=""))
    flow.text("x")
    flow.key(ENTER_KEY)
    flow.authenticated(True)
    assert flow.attach_failed(RuntimeError("start failed")) is None
    assert flow.form.message == "No desktop could be started" and not flow.form.busy


def test_the_form_times_out() -> None:
    flow = _flow(timeout=5.0)
    flow.credentials(credentials_event(password=""))
    assert flow.timeout == 5.0
    assert flow.timed_out() == Disconnect(ErrorInfo.SERVER_DENIED_CONNECTION)


def test_keys_without_a_form_are_not_the_flows() -> None:
    flow = _flow()
    flow.credentials(credentials_event())
    assert flow.key(ENTER_KEY) is None
    flow.text("x")
    assert flow.take_image() is None
