"""The Content-Security-Policy: every page sends it, and no template holds what it would block
(inline script, event-handler attributes, style attributes, htmx's eval'd hx-on). The browser
tests (tests/e2e) fail on any violation the browser reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
BLOCKED = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "inline style element": re.compile(r"<style\b", re.I),
    "hx-on (evaluated code)": re.compile(r"\shx-on[:-]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize("url", ["/accounts/login/", "/p/alpha/campaigns/", "/healthz"])
def test_every_answer_carries_the_policy(client, partner_a, url):
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in policy


def test_no_template_holds_what_the_policy_blocks():
    found = [
        f"{path.relative_to(TEMPLATES)}: {what}"
        for path in TEMPLATES.rglob("*.html")
        if "email" not in path.parts  # email bodies are read in mail clients, not served here
        for what, pattern in BLOCKED.items()
        if pattern.search(path.read_text())
    ]
    assert found == []
