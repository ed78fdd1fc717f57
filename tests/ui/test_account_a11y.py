"""The account pages in both themes: no serious or critical axe-core finding, and usable 375 px wide."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conversations.test_usage import record
from tests.ui.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ["usage", "keys", "members", "audit"]
AXE = "/static/vendor/axe-core/axe.min.js"  # served by the site itself, so the page's policy allows it


def serious_findings(page: Any, base: str) -> list[str]:
    page.add_script_tag(url=f"{base}{AXE}")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {node['target']}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
        for node in v["nodes"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_account_pages_pass_axe_in_both_themes(browser, live_ui, acme, alice, bob, scheme) -> None:
    record(acme, at=datetime.now(UTC), user=alice, prompt=10, completion=5)
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 800})
    sign_in(context, live_ui, alice)
    page = context.new_page()
    found = {}
    for name in PAGES:
        page.goto(f"{live_ui}/o/acme/{name}/")
        assert page.evaluate("document.documentElement.dataset.theme") == scheme
        found[name] = serious_findings(page, live_ui)
    context.close()
    assert found == {key: [] for key in PAGES}


def test_account_pages_fit_a_375_px_screen(browser, live_ui, acme, alice, bob) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    sign_in(context, live_ui, alice)
    page = context.new_page()
    widths = {}
    for name in PAGES:
        page.goto(f"{live_ui}/o/acme/{name}/")
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert widths == dict.fromkeys(PAGES, 375)
