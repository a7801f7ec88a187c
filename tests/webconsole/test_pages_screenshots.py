"""The API tokens page and the audit log page in headless Chromium against the console under
daphne: a token made (shown once) works on the API, is revoked from the page, and both show in
the audit log, which filters them; the API's Swagger UI loads from the server alone.
Screenshots go to WRD_TEST_SCREENSHOTS when set, else the test's own folder."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.viewer.harness import Console, browser_context, launch_chromium


def _shot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / name), full_page=True)


def _me(console: Console, token: str) -> int:
    request = urllib.request.Request(f"{console.url}/api/v1/me/", headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read())["username"] == "pat"
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_tokens_and_audit_pages_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    folder = Path(os.environ.get("WRD_TEST_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    console = Console(tmp_path)
    console.setup()
    pat = console.add_user("pat", staff=True)
    console.start()
    try:
        # a failed login for the log to show
        bad = urllib.request.Request(f"{console.url}/api/v1/me/", headers={"Authorization": "Token wrd_0badf00d_x"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=10)
        assert refused.value.code == 401

        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                context = browser_context(browser, console, pat["cookie"], viewport={"width": 1200, "height": 800})
                page = context.new_page()
                page.goto(f"{console.url}/account/tokens/")
                page.fill("input[name=name]", "backup script")
                page.select_option("select[name=expires_in_days]", "30")
                page.click("button[data-action=create-token]")
                value = page.inner_text("[data-token]").strip()
                assert value.startswith("wrd_")
                _shot(page, folder, "api-tokens-created.png")
                assert _me(console, value) == 200

                page.goto(f"{console.url}/account/tokens/")
                assert value not in page.content()  # shown once only
                page.click("button[data-action=revoke-token]")
                assert page.get_attribute("tr[data-token-id]", "data-status") == "revoked"
                _shot(page, folder, "api-tokens-revoked.png")
                assert _me(console, value) == 401

                page.goto(f"{console.url}/manage/audit/")
                actions = page.eval_on_selector_all("tr[data-event]", "rows => rows.map(r => r.dataset.action)")
                assert actions[:4] == ["login.failed", "token.revoke", "token.create", "login.failed"], actions
                _shot(page, folder, "audit-log.png")
                page.fill("input[name=action]", "token")
                page.click("form.audit-filters button[type=submit]")
                actions = page.eval_on_selector_all("tr[data-event]", "rows => rows.map(r => r.dataset.action)")
                assert actions == ["token.revoke", "token.create"]
                _shot(page, folder, "audit-log-filtered.png")

                # the API docs: Swagger UI from this server alone (anything else is refused and counted)
                outside = []
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(console.url)
                           else (outside.append(route.request.url), route.abort()))
                page.goto(f"{console.url}/api/docs/")
                page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
                assert page.locator(".swagger-ui .opblock").count() >= 20
                assert "WRD API" in page.inner_text(".swagger-ui .info")
                assert outside == []
                _shot(page, folder, "api-docs.png")
            finally:
                browser.close()
    finally:
        console.close()
