"""The Audit page in chromium: an admin reads and filters the trail and loads more; a member cannot open it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from audit import services as audit
from tenancy import services
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_filters_the_trail_and_loads_more(page, context, live_ui, acme, alice, bob, tmp_path) -> None:
    services.organization_update(org=acme, actor=alice, name="Acme Corp")
    for n in range(60):  # more than one page (50), all by bob
        audit.record(org=acme, actor=bob, action="preset.viewed", target=acme, payload={"n": n})
    sign_in(context, live_ui, alice)

    page.goto(f"{live_ui}/o/acme/")
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    assert page.get_by_role("link", name="Audit").get_attribute("aria-current") == "page"
    rows = page.locator("tr[data-event]")
    expect(rows).to_have_count(50)
    assert rows.first.get_attribute("data-action") == "preset.viewed"  # newest first

    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(61)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    assert rows.last.get_attribute("data-action") == "org.updated"
    expect(rows.last.get_by_role("cell", name="Acme Corp", exact=True)).to_be_visible()  # the change's after

    page.get_by_label("Action (or a prefix like preset.)").fill("org.")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-action") == "org.updated"
    export = page.get_by_role("link", name="Export as JSON Lines")
    assert export.get_attribute("href") == "/api/v1/orgs/acme/audit/export/?action=org."
    screenshot(page, "audit", tmp_path)

    page.get_by_label("Actor (username or id)").fill("bob")
    page.get_by_label("Action (or a prefix like preset.)").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(50)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.action)")) == {"preset.viewed"}


def test_a_member_cannot_open_the_audit_page(page, context, live_ui, acme, bob) -> None:
    sign_in(context, live_ui, bob)
    page.goto(f"{live_ui}/o/acme/keys/")
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)

    response = page.goto(f"{live_ui}/o/acme/audit/")

    assert response.status == 403


def test_owner_changes_the_retention_in_place(page, context, live_ui, acme, alice) -> None:
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/audit/")
    in_force = page.locator("[data-retention-in-force]")
    expect(in_force).to_have_text("Events are kept forever (the service's default).")
    label = "Days to keep (0: forever; blank: the service's default)"

    page.get_by_label(label).fill("365")
    page.locator("[data-retention]").get_by_role("button", name="Save").click()
    expect(in_force).to_have_text(re.compile("^Events older than 365 days are removed by a daily purge"))
    assert page.url == f"{live_ui}/o/acme/audit/"

    page.get_by_label(label).fill("")
    page.locator("[data-retention]").get_by_role("button", name="Save").click()
    expect(in_force).to_have_text("Events are kept forever (the service's default).")
