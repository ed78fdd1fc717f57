"""A preset's analytics page in chromium: one uPlot chart per metric, one line per version."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conversations.models import Conversation
from conversations.usage import utc_today
from tests.conversations.test_analytics import answer
from tests.presets_world import make_preset
from tests.ui.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_analytics_page_draws_a_chart_per_metric_with_a_line_per_version(page, context, live_ui, acme, alice) -> None:
    preset = make_preset(acme, alice, "helper", scope="org")
    chat = Conversation.objects.create(org=acme, user=alice, preset=preset)
    today = utc_today()
    answer(chat, 2, day=today - timedelta(days=1), version=1, prompt=100, completion=20, ttft=300, vote="up")
    answer(chat, 4, day=today, version=2, prompt=120, completion=30, ttft=250, vote="down")
    sign_in(context, live_ui, alice)

    page.goto(f"{live_ui}/o/acme/presets/{preset.pk}/")
    page.get_by_role("link", name="Feedback analytics per version").click()

    page.locator('[data-analytics-chart="thumbs_up_rate"] canvas').wait_for()
    assert page.locator("[data-analytics-chart] canvas").count() == 9
    legend = page.locator('[data-analytics-chart="turns"] .u-legend .u-series')
    assert [legend.nth(i).locator(".u-label").inner_text() for i in (1, 2)] == ["v2", "v1"]
    assert page.locator('tr[data-version="1"]').inner_text().startswith("v1\t1\t1\t1 / 0")
