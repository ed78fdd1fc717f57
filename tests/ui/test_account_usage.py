"""The usage page in chromium: quota bars sized from the store, and uPlot charts from the usage ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from conversations.usage import usage_rollup_day
from tenancy.metering.quota import get_quota_store
from tenancy.metering.rules import quota_limits, subjects
from tenancy.models import Membership
from tests.conversations.test_usage import record
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_usage_page_draws_quota_bars_and_charts_of_the_ledger(page, context, live_ui, acme, alice, tmp_path) -> None:
    now = datetime.now(UTC)
    record(acme, at=now, user=alice, model="fake", prompt=100, completion=20, cost="0.01000000")
    record(acme, at=now - timedelta(days=3), user=alice, model="fake-backup", prompt=40, completion=2)
    usage_rollup_day(day=(now - timedelta(days=3)).date())  # older days are read from the roll-up
    limits = quota_limits(subjects(Membership.objects.get(org=acme, user=alice)))
    get_quota_store().reserve(limits=limits, amount=5000, reservation_id="ui-usage", ttl_seconds=120)
    sign_in(context, live_ui, alice)

    page.goto(f"{live_ui}/o/acme/usage/")

    assert page.get_by_role("link", name="Usage").get_attribute("aria-current") == "page"
    user_day = page.locator('[data-quota="user_tokens_day"]')
    assert "5,000 reserved" in user_day.inner_text()
    reserved_width = user_day.locator(".quota-reserved").evaluate("el => el.getBoundingClientRect().width")
    assert reserved_width > 0  # sized by the module from the data attributes
    page.locator('[data-usage-chart="days"] canvas').wait_for()
    assert page.locator('[data-usage-chart="models"] canvas').count() == 1

    # The cursor on the last day shows that day's tokens from the ledger in the chart's legend.
    plot = page.locator('[data-usage-chart="days"] .u-over')
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    plot.hover(position={"x": box["width"] - 2, "y": box["height"] / 2})
    legend = page.locator('[data-usage-chart="days"] .u-legend .u-series').nth(1)
    expect(legend.locator(".u-value")).to_have_text("120")
    assert page.get_by_role("cell", name="fake-backup").is_visible()
    page.locator("#main").evaluate("main => { main.scrollTop = 0; }")
    screenshot(page, "usage", tmp_path)
    page.get_by_role("button", name="Switch between light and dark theme").click()
    page.locator('[data-usage-chart="days"] canvas').wait_for()
    screenshot(page, "usage", tmp_path)
