"""The usage ledger: daily roll-ups, the organisation's usage report, and the caller's quotas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from conversations.models import UsageDaily, UsageRecord
from conversations.usage import rollup_usage, usage_rollup_day, utc_today
from tenancy.metering.quota import get_quota_store
from tenancy.metering.rules import quota_limits, subjects
from tenancy.models import Membership, Role
from tests.conversations.test_http import send, start
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.usefixtures("fake_llm")

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"
PAST = date(2026, 10, 5)


def record(org, *, at, user=None, api_key=None, model="fake", kind="chat", prompt=10, completion=5, cached=0, cost="0"):
    row = UsageRecord.objects.create(
        org=org,
        user=user,
        api_key=api_key,
        model=model,
        kind=kind,
        status="complete",
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cost=Decimal(cost),
    )
    UsageRecord.objects.filter(pk=row.pk).update(created_at=at)
    return row


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def usage_url(org: str = "acme", **params) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return reverse("usage-list", kwargs={"org_slug": org}) + (f"?{query}" if query else "")


def daily_rows(org):
    return sorted(
        UsageDaily.objects.for_org(org).values_list(
            "day", "user_id", "api_key_id", "model", "kind", "requests", "prompt_tokens", "completion_tokens", "cost"
        ),
        key=str,
    )


# --- the roll-up -----------------------------------------------------------------------------


def test_rollup_sums_one_utc_day_per_user_key_model_and_kind(acme, globex, alice, bob, carol, make_key) -> None:
    key, _ = make_key(alice, acme, ["chat"])
    record(acme, at=at(PAST, 0, 0, 0), user=alice, prompt=100, completion=10, cost="0.00010000")
    record(acme, at=at(PAST, 23, 59, 59), user=alice, prompt=50, completion=5, cost="0.00005000")
    record(acme, at=at(PAST, 9), user=alice, api_key=key, prompt=7, completion=3, cost="0.00000700")
    record(acme, at=at(PAST, 9), user=bob, model="fake-backup", prompt=20, completion=2)
    record(acme, at=at(PAST, 9), kind="title", prompt=30, completion=4)  # no user: a background title
    record(acme, at=at(PAST, 9), kind="title", prompt=1, completion=1)
    record(globex, at=at(PAST, 9), user=carol, prompt=999, completion=999)
    record(acme, at=at(PAST - timedelta(days=1), 23, 59, 59), user=alice, prompt=1000)  # the day before
    record(acme, at=at(PAST + timedelta(days=1), 0, 0, 0), user=alice, prompt=1000)  # the day after

    assert usage_rollup_day(day=PAST) == 5

    assert daily_rows(acme) == sorted(
        [
            (PAST, alice.pk, None, "fake", "chat", 2, 150, 15, Decimal("0.00015000")),
            (PAST, alice.pk, key.pk, "fake", "chat", 1, 7, 3, Decimal("0.00000700")),
            (PAST, bob.pk, None, "fake-backup", "chat", 1, 20, 2, Decimal("0E-8")),
            (PAST, None, None, "fake", "title", 2, 31, 5, Decimal("0E-8")),
        ],
        key=str,
    )
    assert daily_rows(globex) == [(PAST, carol.pk, None, "fake", "chat", 1, 999, 999, Decimal("0E-8"))]


def test_rerunning_the_rollup_replaces_the_day_and_changes_nothing_else(acme, alice) -> None:
    record(acme, at=at(PAST), user=alice, prompt=100, completion=10)
    other = record(acme, at=at(PAST + timedelta(days=1)), user=alice, prompt=1, completion=1)
    usage_rollup_day(day=PAST)
    usage_rollup_day(day=PAST + timedelta(days=1))
    first = daily_rows(acme)

    assert rollup_usage(PAST.isoformat()) == 1  # the Celery task, as beat or a caller sends it
    assert daily_rows(acme) == first

    record(acme, at=at(PAST, 18), user=alice, prompt=5, completion=5)
    usage_rollup_day(day=PAST)
    assert UsageDaily.objects.get(day=PAST).prompt_tokens == 105
    UsageRecord.objects.filter(pk=other.pk).delete()
    usage_rollup_day(day=PAST + timedelta(days=1))
    assert not UsageDaily.objects.filter(day=PAST + timedelta(days=1)).exists()
    assert UsageDaily.objects.get(day=PAST).requests == 2


def test_rollup_without_a_day_rolls_up_yesterday(acme, alice) -> None:
    yesterday = utc_today() - timedelta(days=1)
    record(acme, at=at(yesterday), user=alice)
    record(acme, at=datetime.now(UTC), user=alice)
    assert rollup_usage.apply().get() == 1
    assert list(UsageDaily.objects.values_list("day", flat=True)) == [yesterday]


def test_a_missing_user_and_key_are_one_key_value_not_distinct_nulls(acme) -> None:
    UsageDaily.objects.create(org=acme, day=PAST, model="fake", kind="title", requests=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageDaily.objects.create(org=acme, day=PAST, model="fake", kind="title", requests=1)


def test_deleting_a_user_keeps_their_rolled_up_usage(acme, bob) -> None:
    record(acme, at=at(PAST), user=bob)
    usage_rollup_day(day=PAST)
    bob.delete()
    assert UsageDaily.objects.get(day=PAST).user_id is not None


# --- GET /orgs/{org}/usage/ ----------------------------------------------------------------


@pytest.fixture
def ledger(acme, globex, alice, bob, carol, make_key):
    """Rolled-up October days for Acme (and a Globex day), plus live calls today and yesterday."""
    key, _ = make_key(alice, acme, ["chat"])
    record(acme, at=at(PAST), user=alice, prompt=100, completion=20, cached=64, cost="0.00100000")
    record(acme, at=at(PAST), user=alice, api_key=key, prompt=10, completion=2, cost="0.00000100")
    record(acme, at=at(PAST + timedelta(days=1)), user=bob, model="fake-backup", prompt=40, completion=8)
    record(globex, at=at(PAST), user=carol, prompt=5000, completion=5000, cost="9.00000000")
    for day in (PAST, PAST + timedelta(days=1)):
        usage_rollup_day(day=day)
    today, yesterday = utc_today(), utc_today() - timedelta(days=1)
    record(acme, at=datetime.now(UTC), user=bob, prompt=3, completion=1, cost="0.00000300")
    record(acme, at=at(yesterday), user=alice, prompt=7, completion=1)  # not rolled up: yesterday is live
    return {"key": key, "today": today, "yesterday": yesterday}


def test_usage_per_day_reads_rolled_up_days_and_today_live(api, alice, ledger) -> None:
    response = api(alice).get(usage_url(**{"from": "2026-10-01", "to": "2026-10-31"}))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["from"], body["to"], body["group_by"]) == ("2026-10-01", "2026-10-31", "day")
    assert [(row["day"], row["requests"], row["prompt_tokens"]) for row in body["rows"]] == [
        ("2026-10-05", 2, 110),
        ("2026-10-06", 1, 40),
    ]
    assert body["totals"] == {
        "requests": 3,
        "prompt_tokens": 150,
        "completion_tokens": 30,
        "cached_tokens": 64,
        "cost": "0.00100100",
    }

    recent = api(alice).get(usage_url()).json()  # default: the last 30 days, today included
    today, yesterday = ledger["today"], ledger["yesterday"]
    assert (recent["from"], recent["to"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert [(row["day"], row["prompt_tokens"]) for row in recent["rows"]][-2:] == [
        (yesterday.isoformat(), 7),
        (today.isoformat(), 3),
    ]


def test_usage_grouped_by_user_model_and_key(api, acme, alice, bob, ledger) -> None:
    window = {"from": "2026-10-01", "to": ledger["today"].isoformat()}
    by_user = api(alice).get(usage_url(group_by="user", **window)).json()
    assert [(row["user"], row["requests"], row["prompt_tokens"]) for row in by_user["rows"]] == [
        ({"id": alice.pk, "username": "alice"}, 3, 117),
        ({"id": bob.pk, "username": "bob"}, 2, 43),
    ]
    by_model = api(alice).get(usage_url(group_by="model", **window)).json()
    assert [(row["model"], row["requests"]) for row in by_model["rows"]] == [("fake", 4), ("fake-backup", 1)]
    by_key = api(alice).get(usage_url(group_by="api_key", **window)).json()
    key = ledger["key"]
    assert [(row["api_key"], row["requests"]) for row in by_key["rows"]] == [
        (None, 4),
        ({"id": str(key.pk), "name": key.name, "prefix": key.prefix}, 1),
    ]
    assert by_user["totals"] == by_model["totals"] == by_key["totals"]
    assert by_user["totals"]["requests"] == 5


def test_a_finished_day_counts_once_it_is_rolled_up(api, acme, alice) -> None:
    day = utc_today() - timedelta(days=3)
    record(acme, at=at(day), user=alice, prompt=11)
    assert api(alice).get(usage_url()).json()["totals"]["prompt_tokens"] == 0
    usage_rollup_day(day=day)
    assert api(alice).get(usage_url()).json()["totals"]["prompt_tokens"] == 11


def test_usage_carries_the_org_quotas_now(api, acme, alice) -> None:
    membership = Membership.objects.get(org=acme, user=alice)
    limits = quota_limits(subjects(membership))
    get_quota_store().reserve(limits=limits, amount=1234, reservation_id="held-for-test", ttl_seconds=60)
    quotas = api(alice).get(usage_url()).json()["quotas"]
    assert [q["name"] for q in quotas] == ["org_tokens_day", "org_tokens_month"]
    day = quotas[0]
    assert (day["used"], day["reserved"], day["remaining"]) == (0, 1234, day["budget"] - 1234)
    assert day["reset_at"] == (datetime.combine(utc_today() + timedelta(days=1), datetime.min.time())).isoformat() + "Z"


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"from": "2026-13-01"}, "invalid", "from"),
        ({"to": "yesterday"}, "invalid", "to"),
        ({"group_by": "team"}, "invalid", "group_by"),
        ({"from": "2026-10-31", "to": "2026-10-01"}, "invalid_date_range", None),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "invalid_date_range", None),  # 367 days
        ({"from": "2099-01-01"}, "invalid_date_range", None),  # after today, the default `to`
    ],
)
def test_bad_usage_queries_are_400_with_a_code(api, alice, acme, params, code, field) -> None:
    response = api(alice).get(usage_url(**params))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert error["details"]["field"] == field
    else:
        assert error["details"]["max_days"] == 366


def test_a_range_of_exactly_366_days_is_allowed(api, alice) -> None:
    assert api(alice).get(usage_url(**{"from": "2025-01-01", "to": "2026-01-01"})).status_code == 200


@pytest.mark.parametrize("role", [Role.MEMBER, Role.APPROVER, Role.VIEWER])
def test_members_who_are_not_admins_get_403(api, member_with_role, role) -> None:
    response = api(member_with_role(role)).get(usage_url())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_an_admin_may_read_usage(api, member_with_role) -> None:
    assert api(member_with_role(Role.ADMIN)).get(usage_url()).status_code == 200


def test_outsiders_and_unknown_orgs_get_the_same_404(api, carol, alice) -> None:
    foreign, missing = api(carol).get(usage_url("acme")), api(carol).get(usage_url("no-such-org"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert api(alice).get(usage_url("globex")).status_code == 404


def test_anonymous_callers_get_401_on_both_routes(api, acme) -> None:
    assert api().get(usage_url()).status_code == 401
    assert api().get(reverse("me-quota")).status_code == 401


def test_an_api_key_needs_the_usage_scope_and_its_own_org(api, acme, globex, alice, make_key) -> None:
    MembershipFactory(org=globex, user=alice, role=Role.OWNER)
    _, chat_only = make_key(alice, acme, ["chat", "org:read"])
    _, usage = make_key(alice, acme, ["usage:read"])
    assert api(key=chat_only).get(usage_url()).status_code == 403
    assert api(key=usage).get(usage_url()).status_code == 200
    assert api(key=usage).get(usage_url("globex")).status_code == 404  # alice owns Globex, the key does not


def test_an_acme_admin_never_sees_globex_usage(api, acme, globex, alice, carol, make_key) -> None:
    MembershipFactory(org=globex, user=alice, role=Role.MEMBER)
    globex_key, _ = make_key(carol, globex, ["chat"])
    record(globex, at=datetime.now(UTC), user=alice, prompt=500)  # alice's own calls, but in Globex
    record(globex, at=datetime.now(UTC), user=carol, api_key=globex_key, prompt=700)
    # A Globex key id in Acme's ledger (it cannot happen through the API) is never named.
    record(acme, at=datetime.now(UTC), user=alice, api_key=globex_key, prompt=3)
    for group_by in ("day", "user", "model", "api_key"):
        body = api(alice).get(usage_url(group_by=group_by)).json()
        assert body["totals"]["prompt_tokens"] == 3
    (row,) = api(alice).get(usage_url(group_by="api_key")).json()["rows"]
    assert row["api_key"] == {"id": str(globex_key.pk), "name": None, "prefix": None}
    assert api(alice).get(usage_url("globex")).status_code == 403  # a Globex member, not an admin there
    dave = UserFactory(username="dave")
    MembershipFactory(org=globex, user=dave, role=Role.OWNER)
    assert api(dave).get(usage_url("globex")).json()["totals"]["prompt_tokens"] == 1200
    assert api(dave).get(usage_url("acme")).status_code == 404


# --- GET /me/quota/ --------------------------------------------------------------------------


def me_quota(client) -> dict:
    response = client.get(reverse("me-quota"))
    assert response.status_code == 200, response.json()
    return {entry["org"]["slug"]: entry for entry in response.json()["organizations"]}


def quotas(entry: dict) -> dict:
    return {quota["name"]: quota for quota in entry["quotas"]}


def test_me_quota_shows_what_a_chat_turn_used(api, acme, globex, alice) -> None:
    MembershipFactory(org=globex, user=alice, role=Role.MEMBER)
    answer = send(api, alice, start(api, alice)["id"], "Hello").json()["message"]
    used = answer["prompt_tokens"] + answer["completion_tokens"]

    orgs = me_quota(api(alice))
    assert list(orgs) == ["acme", "globex"]
    acme_quotas = quotas(orgs["acme"])
    assert set(acme_quotas) == {"org_tokens_day", "user_tokens_day", "org_tokens_month"}
    for name in acme_quotas:
        quota = acme_quotas[name]
        assert (quota["used"], quota["reserved"], quota["remaining"]) == (used, 0, quota["budget"] - used)
    assert all(quota["used"] == 0 for quota in orgs["globex"]["quotas"])
    assert orgs["acme"]["role"] == "owner"
    assert [limit["name"] for limit in orgs["acme"]["rate_limits"]] == ["org_rpm", "org_tpm", "user_rpm", "user_tpm"]
    assert orgs["acme"]["rate_limits"][2]["limit_per_minute"] == 30  # the free plan


def test_me_quota_shows_held_reservations(api, acme, alice) -> None:
    membership = Membership.objects.get(org=acme, user=alice)
    get_quota_store().reserve(
        limits=quota_limits(subjects(membership)), amount=400, reservation_id="me-quota-held", ttl_seconds=60
    )
    user_day = quotas(me_quota(api(alice))["acme"])["user_tokens_day"]
    assert (user_day["used"], user_day["reserved"], user_day["remaining"]) == (0, 400, user_day["budget"] - 400)
    reset = datetime.fromisoformat(user_day["reset_at"].replace("Z", "+00:00"))
    assert reset == datetime.combine(utc_today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def test_me_quota_with_a_key_shows_only_its_org_and_the_key_limits(api, acme, globex, alice, make_key) -> None:
    MembershipFactory(org=globex, user=alice, role=Role.MEMBER)
    acme.settings = {"limits": {"key_tokens_day": 5000}}
    acme.save()
    key, secret = make_key(alice, acme, ["chat"])
    membership = Membership.objects.get(org=acme, user=alice)
    get_quota_store().reserve(
        limits=quota_limits(subjects(membership, key.pk)),
        amount=100,
        reservation_id="key-held",
        ttl_seconds=60,
    )
    orgs = me_quota(api(key=secret))
    assert list(orgs) == ["acme"]
    key_day = quotas(orgs["acme"])["key_tokens_day"]
    assert (key_day["budget"], key_day["reserved"], key_day["remaining"]) == (5000, 100, 4900)
    assert {"key_rpm", "key_tpm"} <= {limit["name"] for limit in orgs["acme"]["rate_limits"]}
    assert "key_tokens_day" not in quotas(me_quota(api(alice))["acme"])  # the session has no key limits


def test_limits_set_to_null_do_not_show(api, acme, alice) -> None:
    acme.settings = {"limits": {"user_rpm": None, "org_tokens_month": None}}
    acme.save()
    entry = me_quota(api(alice))["acme"]
    assert "user_rpm" not in {limit["name"] for limit in entry["rate_limits"]}
    assert "org_tokens_month" not in quotas(entry)


def test_with_guardrails_off_no_limit_applies(api, alice, settings) -> None:
    settings.GUARDRAILS_ENABLED = False
    entry = me_quota(api(alice))["acme"]
    assert (entry["rate_limits"], entry["quotas"]) == ([], [])


def test_quota_store_down_is_503_with_retry_after(api, alice, settings) -> None:
    settings.REDIS_URL = CLOSED_PORT_URL
    for url in (reverse("me-quota"), usage_url()):
        response = api(alice).get(url)
        assert response.status_code == 503
        error = response.json()["error"]
        assert (error["code"], error["details"]["retry_after"]) == ("quota_store_unavailable", 5)
        assert response["Retry-After"] == "5"
