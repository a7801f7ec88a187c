"""The policy forbids inline scripts, inline styles and event-handler attributes
(webconsole/config/settings/security.py): no template may carry one, or its page breaks in the
browser. Data for scripts goes in json_script blocks (``type="application/json"``, never run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# The project's templates and every app's own (webconsole/<app>/templates/).
TEMPLATES = sorted([*(ROOT / "templates").rglob("*.html"), *(ROOT / "webconsole").glob("*/templates/**/*.html")])
SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
HANDLER = re.compile(r"<[^>]*\s(on[a-z]+)\s*=", re.I)
STYLE_ATTR = re.compile(r"<[^>]*\sstyle\s*=", re.I)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_inline_script_style_or_handler(template: Path) -> None:
    text = template.read_text()
    for attrs in SCRIPT.findall(text):
        assert "src=" in attrs or "application/json" in attrs, f"{template}: inline <script{attrs}>"
    assert not re.search(r"<style\b", text, re.I), f"{template}: inline <style>"
    assert not HANDLER.search(text), f"{template}: event-handler attribute {HANDLER.search(text).group(1)}"
    assert not STYLE_ATTR.search(text), f"{template}: style= attribute"


def test_the_templates_are_found() -> None:
    assert len(TEMPLATES) >= 5
    assert any("webconsole" in p.parts for p in TEMPLATES)
