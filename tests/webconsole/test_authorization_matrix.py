"""Who may do what, route by route: every HTTP route, every API endpoint, the viewer
WebSocket and the RDP login, each tried as an anonymous client, the desktop's owner, another
user and staff, against the answer written in one table. A route added without a row fails
``test_every_route_has_a_row``.

The desktop the routes name is stopped, so nothing starts or stops for real: the owner's
answers are those of a desktop that is not running (409, a message), which differ from the
refusals (401/403/404, the login page) that the table is about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from webconsole.api.services import token_create
from webconsole.asgi import application
from webconsole.desktops import rdp
from webconsole.desktops.models import DesktopSession, DesktopState
from webconsole.policies.models import DesktopProfile
from webconsole.recordings.models import Connection, Recording, RecordingState
from webconsole.sharing.models import Share, ShareKind
from webconsole.viewer.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

ANON, OWNER, OTHER, STAFF = "anonymous", "owner", "other", "staff"
WHO = (ANON, OWNER, OTHER, STAFF)
PASSWORDS = {OWNER: "pw-owner-matrix-1", OTHER: "pw-other-matrix-1", STAFF: "pw-staff-matrix-1"}
LOGIN = "login page"  # a redirect to the login form
ADMIN_LOGIN = "admin login page"


def _answers(anonymous, owner, other, staff) -> dict[str, object]:
    return dict(zip(WHO, (anonymous, owner, other, staff), strict=True))


# url name -> (method, form or JSON data, expected answer for each client[, more URL
# arguments]). The desktop is the owner's (stopped) one. An answer is a status code, LOGIN /
# ADMIN_LOGIN, or ("302", where).
HTTP = {
    "home": ("GET", None, _answers(("302", "/desktops/"), ("302", "/desktops/"), ("302", "/desktops/"),
                                   ("302", "/desktops/"))),
    "login": ("GET", None, _answers(200, 200, 200, 200)),
    "logout": ("POST", {}, _answers(LOGIN, LOGIN, LOGIN, LOGIN)),
    # public; 503 here, where no Celery worker answers its check
    "health": ("GET", None, _answers(503, 503, 503, 503)),
    # by address (WRD_METRICS_ALLOW, loopback by default) or staff
    "metrics": ("GET", None, _answers(200, 200, 200, 200)),
    "desktops:list": ("GET", None, _answers(LOGIN, 200, 200, 200)),
    # a size outside the allowed range: refused with a message, nothing started
    "desktops:start": ("POST", {"size": "10x10"}, _answers(LOGIN, ("302", "/desktops/"), ("302", "/desktops/"),
                                                           ("302", "/desktops/"))),
    "desktops:attach": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "desktops:stop": ("POST", {}, _answers(LOGIN, ("302", "/desktops/"), 404, ("302", "/desktops/"))),
    "desktops:screenshot": ("GET", None, _answers(LOGIN, 409, 404, 409)),
    "viewer:view": ("GET", None, _answers(LOGIN, 200, 404, 200)),
    "api:api-list": ("GET", None, _answers(401, 200, 200, 200)),
    "api:api-create": ("POST", {"width": 10, "height": 10}, _answers(401, 400, 400, 400)),
    "api:api-attach": ("POST", {}, _answers(401, 403, 403, 400)),
    "api:api-detail": ("GET", None, _answers(401, 200, 404, 200)),
    # 400: the desktop is not running
    "api:api-stop": ("POST", {}, _answers(401, 400, 404, 400)),
    "api:api-resize": ("POST", {"width": 800, "height": 600}, _answers(401, 400, 404, 400)),
    "api:api-screenshot": ("GET", None, _answers(401, 409, 404, 409)),
    # file transfer: the desktop is not running (409); an upload's URL carries a token signed
    # for its desktop and user, and a forged one is no upload at all (404)
    "api:api-upload-create": ("POST", {"name": "a.txt", "size": 3}, _answers(401, 409, 404, 409)),
    "api:api-upload": ("HEAD", None, _answers(401, 404, 404, 404), {"token": "forged"}),
    "api:api-files": ("GET", None, _answers(401, 409, 404, 409)),
    "api:api-file": ("GET", None, _answers(401, 409, 404, 409), {"name": "a.txt"}),
    # Recordings are the admins' (the owner's too with WRD_RECORDING_OWNER_ACCESS): the
    # recording named is a finished one of the owner's desktop whose file is gone (404 for staff
    # too); starting and stopping are refused to anyone else whatever the id (403 on the API).
    "recordings:list": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "recordings:player": ("GET", None, _answers(LOGIN, 404, 404, 200)),
    "recordings:file": ("GET", None, _answers(LOGIN, 404, 404, 404)),
    "recordings:stop": ("POST", {}, _answers(LOGIN, 404, 404, ("302", "/desktops/{desktop}/recordings"))),
    "recordings:desktop": ("GET", None, _answers(LOGIN, 404, 404, 200)),
    # the owner is sent back to the page with a refusal; a stopped desktop records nothing
    "recordings:start": ("POST", {}, _answers(LOGIN, ("302", "/desktops/{desktop}/recordings"), 404,
                                              ("302", "/desktops/{desktop}/recordings"))),
    "api:api-recordings": ("GET", None, _answers(401, 404, 404, 200)),
    "api:api-recording-start": ("POST", {}, _answers(401, 403, 403, 400)),
    "api:api-recording-stop": ("POST", {}, _answers(401, 403, 403, 202)),
    "api:api-recording-file": ("GET", None, _answers(401, 404, 404, 404)),
    # a restart within the owner's limit of active desktops, here 0 (test_http_route sets it):
    # refused with a message, nothing queued
    "api:api-restart": ("POST", {}, _answers(401, 400, 404, 400)),
    "api:api-me": ("GET", None, _answers(401, 200, 200, 200)),
    # API tokens: each user's own; the token named is the owner's (staff may see and revoke it)
    "api:api-tokens": ("GET", None, _answers(401, 200, 200, 200)),
    "api:api-token": ("GET", None, _answers(401, 200, 404, 200)),
    "api:api-token-revoke": ("POST", {}, _answers(401, 200, 404, 200)),
    "api:api-audit": ("GET", None, _answers(401, 403, 403, 200)),
    # the OpenAPI schema and its browsable docs are public (they hold no data)
    "api-schema": ("GET", None, _answers(200, 200, 200, 200)),
    "api-docs": ("GET", None, _answers(200, 200, 200, 200)),
    # the tokens page: one's own tokens only (staff revoke others' in the admin)
    "tokens:list": ("GET", None, _answers(LOGIN, 200, 200, 200)),
    "tokens:revoke": ("POST", {}, _answers(LOGIN, ("302", "/account/tokens/"), 404, 404)),
    # the audit log: staff only, sent to the admin's login like the admin site
    "audit:list": ("GET", None, _answers(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200)),
    "audit:export": ("GET", None, _answers(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200)),
    # The dashboard's actions: the owner's (and staff's); the desktop is stopped, so a resize is
    # refused with a message, a thumbnail is 409; a restart (the API's service) is within the
    # owner's limit of active desktops, here 0 as for api-restart: refused with a message.
    "dashboard:admin": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "dashboard:restart": ("POST", {}, _answers(LOGIN, ("302", "/desktops/"), 404, ("302", "/desktops/"))),
    "dashboard:resize": ("POST", {"size": "800x600"}, _answers(LOGIN, ("302", "/desktops/"), 404,
                                                               ("302", "/desktops/"))),
    "dashboard:thumbnail": ("GET", None, _answers(LOGIN, 409, 404, 409)),
    "dashboard:rdp-file": ("GET", None, _answers(LOGIN, 200, 404, 200)),
    # Sharing: the owner's panel (staff see it and may revoke; only the owner grants or hands
    # control, and a stopped desktop is shared with nobody: a message). The share named is a
    # link nobody opened, so the other user has no access through it.
    "sharing:panel": ("GET", None, _answers(LOGIN, 200, 404, 200)),
    "sharing:revoke": ("POST", {}, _answers(LOGIN, ("302", "/desktops/{desktop}/sharing"), 404,
                                            ("302", "/desktops/{desktop}/sharing"))),
    "sharing:control": ("POST", {"control": "1"}, _answers(LOGIN, ("302", "/desktops/{desktop}/sharing"), 404,
                                                           ("302", "/desktops/{desktop}/sharing"))),
    # one open viewer's control: a stopped desktop has none (a message); the other user's 404
    "sharing:viewer-control": ("POST", {"control": "1"}, _answers(LOGIN, ("302", "/desktops/{desktop}/sharing"),
                                                                  404, ("302", "/desktops/{desktop}/sharing"))),
    # a token that names no share: the refusal page
    "sharing:link": ("GET", None, _answers(LOGIN, 404, 404, 404), {"token": "forged"}),
    # Users, groups, policies and profiles: staff only. The user named is the owner (staff's
    # own account where a route would delete it: refused); a group and a profile of the test.
    "manage:users": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "manage:user": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "manage:user-active": ("POST", {"active": "1"}, _answers(LOGIN, 403, 403, ("302", "/manage/users/{user}/"))),
    "manage:user-password": ("POST", {"password": ""}, _answers(LOGIN, 403, 403, 400)),
    "manage:user-groups": ("POST", {}, _answers(LOGIN, 403, 403, ("302", "/manage/users/{user}/"))),
    "manage:user-policy": ("POST", {"max_width": "5"}, _answers(LOGIN, 403, 403, 400)),
    "manage:user-delete": ("POST", {}, _answers(LOGIN, 403, 403, ("302", "/manage/users/{user}/")),
                           {"user_id": STAFF}),
    "manage:groups": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "manage:group": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "manage:group-members": ("POST", {"members": ["nobody"]}, _answers(LOGIN, 403, 403, 400)),
    "manage:group-policy": ("POST", {"max_desktops": "-1"}, _answers(LOGIN, 403, 403, 400)),
    "manage:group-delete": ("POST", {}, _answers(LOGIN, 403, 403, ("302", "/manage/groups/"))),
    "manage:profiles": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "manage:profile": ("GET", None, _answers(LOGIN, 403, 403, 200)),
    "manage:profile-delete": ("POST", {}, _answers(LOGIN, 403, 403, ("302", "/manage/profiles/"))),
    "api:api-users": ("GET", None, _answers(401, 403, 403, 200)),
    "api:api-user": ("GET", None, _answers(401, 403, 403, 200)),
    "api:api-user-password": ("POST", {}, _answers(401, 403, 403, 400)),
    "api:api-user-policy": ("GET", None, _answers(401, 403, 403, 200)),
    "api:api-groups": ("GET", None, _answers(401, 403, 403, 200)),
    "api:api-group": ("GET", None, _answers(401, 403, 403, 200)),
    "api:api-group-policy": ("GET", None, _answers(401, 403, 403, 200)),
    "api:api-profiles": ("GET", None, _answers(401, 403, 403, 200)),
    "api:api-profile": ("GET", None, _answers(401, 403, 403, 200)),
}
# The unversioned /api/ mount serves the same views as /api/v1/ (webconsole/api/mount.py):
# each of its routes answers as its /api/v1/ twin.
LEGACY = "api-legacy:"
HTTP_LEGACY = {f"{LEGACY}{name.removeprefix('api:')}": row for name, row in HTTP.items() if name.startswith("api:")}
# Every page of the admin site: staff only. Staff get 403 from the pages the admin offers
# nobody: adding the login throttle's records or API tokens by hand (a token's secret is shown
# once, to its owner, on the tokens page), and the autocomplete asked without the field it completes.
ADMIN = _answers(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200)
ADMIN_NOBODY = _answers(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403)
ADMIN_OFFERED_TO_NOBODY = {"admin:autocomplete", "admin:axes_accessattempt_add", "admin:axes_accessfailurelog_add",
                           "admin:axes_accesslog_add", "admin:api_apitoken_add"}
# The viewer socket: its close code (the connection is accepted first so the browser sees it).
WEBSOCKET = {"ws/desktops/<int:desktop_id>/": _answers(4401, 4409, 4404, 4409)}
# The RDP login, with each one's own password (anonymous: no user name); a user's RDP login
# only ever reaches that user's own desktop (``desktop_for_remote_login``).
RDP = _answers(False, True, True, True)


def _names(patterns, prefix: str = "") -> Iterator[tuple[str, object]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _names(p.url_patterns, f"{prefix}{p.namespace}:" if p.namespace else prefix)
        elif isinstance(p, URLPattern):
            yield f"{prefix}{p.name}" if p.name else f"{prefix}<unnamed {p.pattern}>", p


def test_every_route_has_a_row() -> None:
    routes = {name for name, _ in _names(get_resolver().url_patterns) if not name.startswith("admin:")}
    rows = set(HTTP) | set(HTTP_LEGACY)
    assert routes == rows, f"routes without a row: {routes - rows}; rows without a route: {rows - routes}"
    assert {str(p.pattern) for p in websocket_urlpatterns} == set(WEBSOCKET)


@pytest.fixture
def people(settings) -> dict[str, User | None]:
    settings.WRD_NODE = "node-without-worker"  # nothing a test enqueues is ever run
    owner = User.objects.create_user("matrix-owner", password=PASSWORDS[OWNER])
    other = User.objects.create_user("matrix-other", password=PASSWORDS[OTHER])
    staff = User.objects.create_user("matrix-staff", password=PASSWORDS[STAFF], is_staff=True, is_superuser=True)
    return {ANON: None, OWNER: owner, OTHER: other, STAFF: staff}


@pytest.fixture
def desktop(people) -> DesktopSession:
    return DesktopSession.objects.create(owner=people[OWNER], width=800, height=600, state=DesktopState.STOPPED)


def _client(user: User | None, *, api: bool) -> Client:
    client = APIClient() if api else Client()
    if user is not None:
        client.force_login(user)
    return client


def _outcome(response) -> object:
    if response.status_code == 302:
        where = response["Location"]
        if where.startswith(reverse("admin:login")):
            return ADMIN_LOGIN
        if where.startswith(reverse("login")):
            return LOGIN
        return ("302", where)
    return response.status_code


@pytest.mark.parametrize("name", sorted(HTTP) + sorted(HTTP_LEGACY))
def test_http_route(name, people, desktop, redis_server, settings) -> None:
    method, data, expected, *more = HTTP.get(name) or HTTP_LEGACY[name]
    pattern = dict(_names(get_resolver().url_patterns))[name]
    if name.endswith(":api-restart") or name == "dashboard:restart":
        settings.WRD_MAX_SESSIONS_PER_USER = 0
    kwargs = {"desktop_id": desktop.pk} if "desktop_id" in str(pattern.pattern) else {}
    if "token_id" in str(pattern.pattern):
        kwargs["token_id"] = token_create(user=people[OWNER], name="matrix").token.pk
    if "recording_id" in str(pattern.pattern):
        kwargs["recording_id"] = Recording.objects.create(desktop=desktop, file="gone.mp4",
                                                          state=RecordingState.FINISHED).pk
    if "share_id" in str(pattern.pattern):
        kwargs["share_id"] = Share.objects.create(desktop=desktop, kind=ShareKind.LINK, token_hash="0" * 64,
                                                  expires_at=None, created_by=people[OWNER]).pk
    if "connection_id" in str(pattern.pattern):
        kwargs["connection_id"] = Connection.objects.create(desktop=desktop, user=people[OTHER], kind="browser").pk
    if "user_id" in str(pattern.pattern):
        kwargs["user_id"] = people[OWNER].pk
    if "group_id" in str(pattern.pattern):
        kwargs["group_id"] = Group.objects.create(name="matrix-group").pk
    if "profile_id" in str(pattern.pattern):
        kwargs["profile_id"] = DesktopProfile.objects.create(name="matrix-profile", label="Matrix").pk
    for more_kwargs in more:  # a person's name stands for their id
        kwargs.update({k: people[v].pk if v in PASSWORDS else v for k, v in more_kwargs.items()})
    url = reverse(name, kwargs=kwargs)
    api = name.startswith(("api:", LEGACY))
    got = {}
    for who in WHO:
        client = _client(people[who], api=api)
        call = {"GET": client.get, "POST": client.post, "HEAD": client.head}[method]
        response = call(url, data, format="json") if api and data is not None else call(url, data or {})
        got[who] = _outcome(response)
    expected = {who: (a[0], a[1].format(desktop=desktop.pk, user=kwargs.get("user_id"))) if isinstance(a, tuple)
                else a for who, a in expected.items()}
    assert got == expected
    assert not Recording.objects.exclude(state=RecordingState.FINISHED).exists()  # nothing started
    desktop.refresh_from_db()
    assert desktop.state == DesktopState.STOPPED  # nobody changed it


def test_admin_site(people, desktop) -> None:
    names = [name for name, p in _names(get_resolver().url_patterns) if name.startswith("admin:")
             and not p.pattern.regex.groups and name not in ("admin:logout", "admin:login")]
    assert len(names) > 5
    for name in names:
        got = {who: _outcome(_client(people[who], api=False).get(reverse(name))) for who in WHO}
        assert got == (ADMIN_NOBODY if name in ADMIN_OFFERED_TO_NOBODY else ADMIN), name
    for name, pk in (("admin:auth_user_change", people[OWNER].pk), ("admin:auth_user_delete", people[OWNER].pk),
                     ("admin:desktops_desktopsession_change", desktop.pk)):
        url = reverse(name, args=[pk])
        assert {who: _outcome(_client(people[who], api=False).get(url)) for who in WHO} == ADMIN, name


async def _socket_close_code(user: User | None, desktop_id: int) -> int | None:
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if user is not None:
        client = await asyncio.to_thread(_client, user, api=False)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/desktops/{desktop_id}/", headers=headers)
    try:
        connected, code = await communicator.connect(timeout=5)
        if connected:
            code = (await communicator.receive_output(timeout=5)).get("code")
        return code
    finally:
        await communicator.disconnect()


async def test_viewer_socket(people, desktop) -> None:
    (expected,) = WEBSOCKET.values()
    got = {who: await _socket_close_code(people[who], desktop.pk) for who in WHO}
    assert got == expected


async def test_rdp_login(people) -> None:
    got = {}
    for who in WHO:
        user = people[who]
        username, password = (user.username, PASSWORDS[who]) if user is not None else ("", "")
        got[who] = await rdp.authenticate(username, password, "127.0.0.1")
    assert got == RDP
    for who in (OWNER, OTHER):  # and nobody gets in with another's password
        assert not await rdp.authenticate(people[who].username, PASSWORDS[STAFF], "127.0.0.1")
