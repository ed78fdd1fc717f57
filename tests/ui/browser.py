"""Debian's chromium driven by Playwright, with the page's Content-Security-Policy violations recorded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client

from tests.server import ROOT

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SCREENS = ROOT / "docs" / "ui"
# Every page gets this before its own scripts run (init scripts are not subject to the page's policy).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.effectiveDirective} ${event.blockedURI} ${where}`);
});
"""


def sign_in(context: Any, base: str, user: Any) -> None:
    """A session cookie for `user`, as if they had signed in (the sign-in form has its own test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base}])


def csp_violations(page: Any) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


def screenshot(page: Any, name: str, into: Path, *, document: bool = False) -> Path:
    """Saved under the test's tmp dir; a `document` shot also goes into docs/ui/ when
    UPDATE_UI_SCREENSHOTS=1 (tests/ui/test_screenshots.py takes the set docs/ui.md shows)."""
    theme = page.evaluate("document.documentElement.dataset.theme")
    path = into / f"{name}-{theme}.png"
    page.screenshot(path=str(path), full_page=False)
    if document and os.environ.get("UPDATE_UI_SCREENSHOTS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        (SCREENS / path.name).write_bytes(path.read_bytes())
    return path
