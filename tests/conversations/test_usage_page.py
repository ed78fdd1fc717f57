"""The usage page: the caller's quota bars (as /me/quota/ computes them) and, for admins, the
organisation's tokens and cost by day and by model (as the usage endpoint computes them)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from conversations.usage import utc_today
from tenancy.metering.quota import get_quota_store
from tenancy.metering.rules import quota_limits, subjects
from tenancy.models import Membership
from tests.conversations.test_usage import record

pytestmark = pytest.mark.usefixtures("fake_llm")


def usage_page(user, org: str = "acme", query: str = ""):
    client = Client()
    client.force_login(user)
    return client.get(reverse("account-usage", kwargs={"org_slug": org}) + query)


def chart_block(response) -> dict:
    match = re.search(rb'<script id="usage-data" type="application/json">(.*?)</script>', response.content, re.S)
    assert match, "no usage data block"
    return json.loads(match.group(1))


def test_bars_show_used_and_reserved_of_each_quota(acme, alice) -> None:
    limits = quota_limits(subjects(Membership.objects.get(org=acme, user=alice)))
    store = get_quota_store()
    store.reserve(limits=limits, amount=300, reservation_id="page-settled", ttl_seconds=60)
    store.settle(reservation_id="page-settled", actual=250)
    store.reserve(limits=limits, amount=100, reservation_id="page-held", ttl_seconds=60)

    response = usage_page(alice)
    assert response.status_code == 200
    bars = {bar["name"]: bar for bar in response.context["bars"]}
    assert set(bars) == {"org_tokens_day", "user_tokens_day", "org_tokens_month"}
    user_day = bars["user_tokens_day"]
    assert (user_day["used"], user_day["reserved"]) == ("250", "100")
    assert user_day["used_share"] > 0
    assert user_day["reserved_share"] > 0
    assert b'data-quota="user_tokens_day"' in response.content
    assert b"250 used" in response.content
    assert b"100 reserved" in response.content
    assert b"You: 30 requests per minute" in response.content  # the free plan's user_rpm


def test_an_admin_gets_tokens_and_cost_by_day_and_by_model(acme, globex, alice, carol) -> None:
    today = datetime.now(UTC)
    record(acme, at=today, user=alice, model="fake", prompt=100, completion=20, cost="0.01000000")
    record(acme, at=today - timedelta(days=1), user=alice, model="fake-backup", prompt=40, completion=2)
    record(globex, at=today, user=carol, model="fake", prompt=9999, completion=9999)

    data = chart_block(usage_page(alice))
    assert len(data["days"]) == 30
    assert data["days"][-1] == {"day": utc_today().isoformat(), "tokens": 120, "cost": 0.01, "requests": 1}
    assert data["days"][-2]["tokens"] == 42
    assert {row["model"]: row["tokens"] for row in data["models"]} == {"fake": 120, "fake-backup": 42}
    assert data["totals"]["tokens"] == 162


def test_a_member_sees_their_bars_but_not_the_organisation_chart(acme, bob) -> None:
    response = usage_page(bob)
    assert response.status_code == 200
    assert response.context["bars"]
    assert b"usage-data" not in response.content


def test_a_chosen_window_is_used_and_a_bad_one_refused(acme, alice) -> None:
    data = chart_block(usage_page(alice, query="?from=2026-10-01&to=2026-10-07"))
    assert [day["day"] for day in data["days"]][::6] == ["2026-10-01", "2026-10-07"]
    bad = usage_page(alice, query="?from=yesterday")
    assert bad.status_code == 400
    assert b"`from` must be a date written YYYY-MM-DD." in bad.content
    reversed_range = usage_page(alice, query="?from=2026-10-07&to=2026-10-01")
    assert reversed_range.status_code == 400


def test_usage_page_is_404_in_another_org(acme, alice, carol) -> None:
    assert usage_page(carol).status_code == 404


def test_with_the_quota_store_away_the_page_says_so(acme, alice, settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # a closed port: the store fails closed
    response = usage_page(alice)
    assert response.status_code == 200
    assert b"quota store cannot be reached" in response.content
