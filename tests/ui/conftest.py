"""A live daphne on the test database with the fake model, and Debian's chromium to drive it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conversations.conftest import server_env
from tests.server import daphne
from tests.ui.browser import CHROMIUM, LAUNCH_ARGS, WATCH_CSP, csp_violations


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per module, so Playwright's event loop never outlives the module's browser tests.

    That loop sits on this thread, where Django's ORM takes it for an async context; the tests' own
    ORM calls (fixtures, flushes) never run concurrently with it, so the check is off while the module
    runs. The servers it starts keep the check: tests/server.py leaves the variable out of their
    environment.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: bin/test installs Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def live_ui(transactional_db: None, fake_server: Any, fake_llm: Any, tmp_path: Any) -> Iterator[str]:
    with daphne(server_env(fake_server), log=tmp_path / "daphne.log") as base:
        yield base


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile; the test fails if any page broke the Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(WATCH_CSP)
    pages: list[Any] = []
    context.on("page", lambda page: pages.append(page))
    yield context
    violations = [v for page in pages if not page.is_closed() for v in csp_violations(page)]
    context.close()
    assert not violations, violations


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()
