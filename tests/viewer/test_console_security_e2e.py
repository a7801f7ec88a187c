"""The console's pages under their Content-Security-Policy in real Chromium: every page works
with no inline script or style allowed, and the browser reports no violation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(180)

# Collects what the page itself reports: the event fires for every blocked script, style,
# connection or image, whichever element or API caused it.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI || "inline"} ${e.sourceFile}:${e.lineNumber}`));
"""


def _context(browser, stack, user):
    from harness import browser_context

    cookie = stack[user]["cookie"] if user else None
    context = browser_context(browser, stack["console"], cookie, viewport={"width": 1100, "height": 850})
    context.add_init_script(RECORD_VIOLATIONS)
    return context


@pytest.fixture(scope="module")
def staff(stack):
    """A superuser: the admin's change lists (and their scripts) need its permissions."""
    user = stack["console"].add_user("carol-staff", staff=True)
    stack["console"].django(f"from django.contrib.auth.models import User\n"
                            f"User.objects.filter(pk={user['id']}).update(is_superuser=True)")
    return user


def test_the_viewer_runs_under_the_policy(browser, stack):
    context = _context(browser, stack, "alice")
    try:
        page = context.new_page()
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        response = page.goto(f"{stack['console'].url}/desktops/{stack['desktop']}/view")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, policy
        page.wait_for_function("() => document.getElementById('wrd-viewer').dataset.state === 'connected'",
                               timeout=20000)
        page.wait_for_function("() => wrdViewer.display.stats.drawn > 0", timeout=20000)  # boot.js ran, frames drew
        assert page.evaluate("window.__csp") == []
        assert not [m for m in messages if "Content Security Policy" in m], messages
        # Automation's string predicates (what the shared benchmark harness waits on) work on
        # the viewer: it alone allows eval.
        assert "'unsafe-eval'" in policy
        page.wait_for_function("wrdViewer.root.dataset.state === 'connected'", timeout=5000)
    finally:
        context.close()


@pytest.mark.parametrize("path,user", [
    ("/accounts/login/", None),
    ("/desktops/", "alice"),
    ("/desktops/{desktop}/sharing", "alice"),
    ("/desktops/all", "staff"),
    ("/recordings/", "staff"),
    ("/admin/", "staff"),
    ("/admin/auth/user/", "staff"),
])
def test_console_pages_render_under_the_policy(browser, stack, staff, path, user):
    if user == "staff":
        stack = {**stack, "staff": staff}
    context = _context(browser, stack, user)
    try:
        page = context.new_page()
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        response = page.goto(stack["console"].url + path.format(desktop=stack["desktop"]))
        assert response.status == 200, (path, response.status)
        assert "content-security-policy" in response.headers
        assert "'unsafe-eval'" not in response.headers["content-security-policy"], path
        page.wait_for_load_state("load")
        assert page.evaluate("window.__csp") == [], path
        assert not [m for m in messages if "Content Security Policy" in m], messages
    finally:
        context.close()
