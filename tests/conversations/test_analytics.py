"""Per-version feedback analytics: the report against figures worked out by hand, its period rules,
who may read it, and the turn fields it reads being written by real turns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from conversations import analytics
from conversations.models import Conversation, Feedback, Message, UsageRecord
from conversations.usage import UsageWindow, utc_today
from tests.conversations.test_http import approved_preset, send, start  # noqa: F401 (a fixture)
from tests.factories import MembershipFactory
from tests.presets_world import make_preset

pytestmark = pytest.mark.django_db

DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 2)


def analytics_url(preset, org: str = "acme", **params: str) -> str:
    base = reverse("preset-analytics-list", kwargs={"org_slug": org, "preset_id": preset.pk})
    return base + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def answer(
    conversation,
    seq,
    *,
    day,
    version,
    preset=None,
    status="complete",
    kind="new",
    prompt=0,
    completion=0,
    cost="0",
    ttft=None,
    vote=None,
):
    message = Message.objects.create(
        org=conversation.org,
        conversation=conversation,
        seq=seq,
        role="assistant",
        preset=preset if preset is not None else conversation.preset,
        preset_version=version,
        status=status,
        turn_kind=kind,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost=Decimal(cost),
        ttft_ms=ttft,
    )
    Message.objects.filter(pk=message.pk).update(created_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
    if vote:
        Feedback.objects.create(org=conversation.org, message=message, user=conversation.user, vote=vote)
    return message


@pytest.fixture
def dataset(acme, globex, alice, bob, carol):
    """Six counted answers of preset `helper` in Acme, and answers that must not count."""
    preset = make_preset(acme, bob, "helper", scope="org")
    other = make_preset(acme, bob, "other", scope="org")
    c1 = Conversation.objects.create(org=acme, user=alice, preset=preset)
    c2 = Conversation.objects.create(org=acme, user=bob, preset=preset)
    c3 = Conversation.objects.create(org=acme, user=bob, preset=preset)
    answer(c1, 2, day=DAY1, version=1, prompt=100, completion=20, cost="0.001", ttft=100, vote="up")
    answer(
        c1, 4, day=DAY1, version=1, kind="regenerate", prompt=110, completion=30, cost="0.002", ttft=300, vote="down"
    )
    answer(c1, 6, day=DAY1, version=1, status="failed", prompt=50)
    answer(c1, 8, day=DAY2, version=1, kind="edit", prompt=200, completion=40, cost="0.003", ttft=200, vote="up")
    answer(c2, 2, day=DAY2, version=1, status="interrupted", prompt=10, completion=5, cost="0.0005", ttft=400)
    answer(c3, 2, day=DAY2, version=2, prompt=300, completion=60, cost="0.004", ttft=500, vote="up")
    # Not counted: unfinished, outside the period, a question, another preset, another organisation.
    answer(c3, 4, day=DAY2, version=2, status="streaming", prompt=999)
    answer(c3, 6, day=DAY2 + timedelta(days=2), version=2, prompt=999, vote="down")
    Message.objects.create(org=acme, conversation=c3, seq=7, role="user", preset=preset, preset_version=2)
    answer(c3, 8, day=DAY2, version=1, preset=other, prompt=999, vote="down")
    outside = Conversation.objects.create(org=globex, user=carol, preset=preset)
    answer(outside, 2, day=DAY2, version=1, prompt=999, vote="down")
    return preset


def test_report_matches_figures_worked_out_by_hand(api, alice, dataset) -> None:
    response = api(alice).get(analytics_url(dataset, since="2026-11-01", until="2026-11-03"))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["since"], body["until"], body["bucket"]) == ("2026-11-01", "2026-11-03", "day")
    v2, v1 = body["versions"]  # newest version first
    assert v1["version"] == 1
    assert v2["version"] == 2
    day1, day2 = v1["days"]
    assert day1 == {
        "day": "2026-11-01", "conversations": 1, "turns": 3, "thumbs_up": 1, "thumbs_down": 1, "regenerated": 1,
        "edited": 0, "errors": 1, "api_turns": 0, "prompt_tokens": 260, "completion_tokens": 50, "cost": "0.00300000",
        "thumbs_up_rate": 0.5, "regenerate_rate": 0.3333, "edit_rate": 0.0, "error_rate": 0.3333,
        "tokens_per_turn": 103.33, "cost_per_turn": "0.00100000", "ttft_ms_p50": 200.0,
    }  # fmt: skip
    assert day2 == {
        "day": "2026-11-02", "conversations": 2, "turns": 2, "thumbs_up": 1, "thumbs_down": 0, "regenerated": 0,
        "edited": 1, "errors": 1, "api_turns": 0, "prompt_tokens": 210, "completion_tokens": 45, "cost": "0.00350000",
        "thumbs_up_rate": 1.0, "regenerate_rate": 0.0, "edit_rate": 0.5, "error_rate": 0.5,
        "tokens_per_turn": 127.5, "cost_per_turn": "0.00175000", "ttft_ms_p50": 300.0,
    }  # fmt: skip
    # Totals are not sums of days: c1 answered on both days and counts once.
    assert v1["totals"] == {
        "conversations": 2, "turns": 5, "thumbs_up": 2, "thumbs_down": 1, "regenerated": 1, "edited": 1,
        "errors": 2, "api_turns": 0, "prompt_tokens": 470, "completion_tokens": 95, "cost": "0.00650000",
        "thumbs_up_rate": 0.6667, "regenerate_rate": 0.2, "edit_rate": 0.2, "error_rate": 0.4,
        "tokens_per_turn": 113.0, "cost_per_turn": "0.00130000", "ttft_ms_p50": 250.0,
    }  # fmt: skip
    assert [d["day"] for d in v2["days"]] == ["2026-11-02"]
    assert v2["totals"]["turns"] == 1
    assert v2["totals"]["tokens_per_turn"] == 360.0
    assert body["totals"] == {
        "conversations": 3, "turns": 6, "thumbs_up": 3, "thumbs_down": 1, "regenerated": 1, "edited": 1,
        "errors": 2, "api_turns": 0, "prompt_tokens": 770, "completion_tokens": 155, "cost": "0.01050000",
        "thumbs_up_rate": 0.75, "regenerate_rate": 0.1667, "edit_rate": 0.1667, "error_rate": 0.3333,
        "tokens_per_turn": 154.17, "cost_per_turn": "0.00175000", "ttft_ms_p50": 300.0,
    }  # fmt: skip


def api_call(preset, *, day, version, kind="completion_api", status="complete", org=None, ttft=None):
    record = UsageRecord.objects.create(
        org=org or preset.org, kind=kind, preset=preset, preset_version=version, model="fake", status=status,
        prompt_tokens=10, completion_tokens=5, cost=Decimal("0.0001"), ttft_ms=ttft,
    )  # fmt: skip
    UsageRecord.objects.filter(pk=record.pk).update(created_at=datetime(day.year, day.month, day.day, 9, tzinfo=UTC))


def test_calls_through_v1_with_the_preset_count_as_turns_without_conversations(api, alice, globex, dataset) -> None:
    api_call(dataset, day=DAY1, version=1, ttft=50)
    api_call(dataset, day=DAY1, version=1, status="interrupted")
    # Not counted: a chat turn's own usage (its answer is counted), a summary, another organisation's call.
    api_call(dataset, day=DAY1, version=1, kind="chat")
    api_call(dataset, day=DAY1, version=1, kind="summary")
    api_call(dataset, day=DAY1, version=1, org=globex)
    body = api(alice).get(analytics_url(dataset, since="2026-11-01", until="2026-11-01")).json()
    day1 = body["versions"][0]["days"][0]
    assert (day1["conversations"], day1["turns"], day1["api_turns"], day1["errors"]) == (1, 5, 2, 2)
    assert (day1["prompt_tokens"], day1["completion_tokens"]) == (260 + 20, 50 + 10)
    assert day1["ttft_ms_p50"] == 100.0  # of 50, 100 and 300
    assert day1["thumbs_up_rate"] == 0.5  # a /v1 call has no thumbs


def test_the_embedded_databases_report_is_the_same_as_postgresqls(acme, globex, dataset) -> None:
    api_call(dataset, day=DAY1, version=1, ttft=50)
    api_call(dataset, day=DAY2, version=2, org=globex)
    where = {"preset_id": dataset.pk, "org_id": acme.pk, "period": UsageWindow(DAY1, DAY2 + timedelta(1))}
    by_sql = analytics._report_rows(**where)
    in_python = analytics.portable_rows(analytics.report_params(**where))
    assert len(by_sql) == 6  # two version-days of v1, one of v2, two version totals, the grand total
    assert sorted(in_python, key=repr) == sorted(by_sql, key=repr)


def test_a_period_without_answers_has_zero_counts_and_null_rates(api, alice, dataset) -> None:
    body = api(alice).get(analytics_url(dataset, since="2025-01-01", until="2025-01-31")).json()

    assert body["versions"] == []
    assert body["totals"]["turns"] == 0
    assert body["totals"]["cost"] == "0.00000000"
    assert body["totals"]["thumbs_up_rate"] is None
    assert body["totals"]["ttft_ms_p50"] is None


def test_default_period_is_the_last_30_days(api, bob, dataset) -> None:
    body = api(bob).get(analytics_url(dataset)).json()

    today = utc_today()
    assert (body["since"], body["until"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2025-01-01", "until": "2026-01-02"},  # 367 days
        {"since": "2026-11-03", "until": "2026-11-01"},
        {"since": "yesterday"},
        {"until": "2026-13-01"},
    ],
)
def test_a_bad_or_too_long_period_is_400_with_a_code(api, alice, dataset, params) -> None:
    response = api(alice).get(analytics_url(dataset, **params))

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_date_range", "invalid"}


def test_a_full_year_of_366_days_is_allowed(api, alice, dataset) -> None:
    response = api(alice).get(analytics_url(dataset, since="2025-11-03", until="2026-11-03"))

    assert response.status_code == 200
    assert response.json()["totals"]["turns"] == 6


def test_another_organisations_preset_is_404_for_it(api, carol, dataset) -> None:
    assert api(carol).get(analytics_url(dataset, org="globex")).status_code == 404
    assert api(carol).get(analytics_url(dataset, org="acme")).status_code == 404


def test_a_private_preset_of_someone_else_is_404(api, acme, bob) -> None:
    private = make_preset(acme, bob, "secret")
    colleague = MembershipFactory(org=acme, role="member").user
    assert api(colleague).get(analytics_url(private)).status_code == 404


@pytest.mark.usefixtures("fake_llm")  # before approved_preset: it makes the test model known
def test_turns_record_the_preset_and_how_the_answer_was_asked_for(api, alice, approved_preset) -> None:  # noqa: F811
    chat = start(api, alice, preset=str(approved_preset.pk), variables={"subject": "maths"})
    send(api, alice, chat["id"], "first")
    api(alice).post(
        reverse("conversation-regenerate", kwargs={"org_slug": "acme", "pk": chat["id"]}), {}, format="json"
    )
    edit_url = reverse("conversation-edit", kwargs={"org_slug": "acme", "pk": chat["id"]})
    assert api(alice).post(edit_url, {"content": "first, edited"}, format="json").status_code == 201

    answers = Message.objects.filter(conversation_id=chat["id"], role="assistant").order_by("seq")
    rows = list(answers.values_list("preset_id", "preset_version", "turn_kind", "status"))
    assert rows == [
        (approved_preset.pk, 2, "new", "complete"),
        (approved_preset.pk, 2, "regenerate", "complete"),
        (approved_preset.pk, 2, "edit", "complete"),
    ]
    today = utc_today().isoformat()
    body = api(alice).get(analytics_url(approved_preset, since=today, until=today)).json()
    assert (body["totals"]["turns"], body["totals"]["regenerated"], body["totals"]["edited"]) == (3, 1, 1)
    assert body["totals"]["ttft_ms_p50"] is not None


def test_the_page_draws_one_series_per_version_for_each_metric(client, alice, dataset) -> None:
    client.force_login(alice)
    url = reverse("preset-analytics-page", kwargs={"org_slug": "acme", "pk": dataset.pk})

    response = client.get(url, {"since": "2026-11-01", "until": "2026-11-03"})

    assert response.status_code == 200
    chart = response.context["chart"]
    assert chart["days"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert chart["versions"] == ["v2", "v1"]
    thumbs = next(item for item in chart["charts"] if item["key"] == "thumbs_up_rate")
    assert thumbs["series"] == [[None, 1.0, None], [0.5, 1.0, None]]
    assert b'id="analytics-data"' in response.content
    assert client.get(url, {"since": "2020-01-01"}).status_code == 400
