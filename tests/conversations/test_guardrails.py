"""Guardrails on the chat path: rate limits and token quotas refuse before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async as sync_to_async

from audit.models import AuditEvent
from conversations import tasks
from conversations.models import Message
from tenancy.metering.quota import QuotaLimit, get_quota_store
from tenancy.metering.rules import periods_at
from tests.conversations.test_http import send, start, url
from tests.conversations.test_websocket import communicator, frames_until_done

pytestmark = pytest.mark.usefixtures("fake_llm")

NO_QUOTAS = {f"{who}_tokens_{period}": None for who in ("org", "user", "key") for period in ("day", "month")}


def limit(org, **values) -> None:
    org.settings = {**org.settings, "limits": {**NO_QUOTAS, **values}}
    org.save()


def test_a_request_over_the_rate_limit_is_429_with_headers_and_stores_nothing(api, acme, alice, fake_llm) -> None:
    limit(acme, user_rpm=2)
    chat = start(api, alice)
    assert send(api, alice, chat["id"], "one").status_code == 201
    first = send(api, alice, chat["id"], "two")
    assert first.status_code == 201
    assert first.headers.get("X-RateLimit-Limit") is None  # admitted answers carry no refusal headers
    stored, calls = Message.objects.count(), len(fake_llm.requests)
    refused = send(api, alice, chat["id"], "three")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["details"]["limit"]) == ("rate_limited", "user_rpm")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert (refused["X-RateLimit-Limit"], refused["X-RateLimit-Remaining"]) == ("2", "0")
    assert int(refused["X-RateLimit-Reset"]) >= 1
    assert (Message.objects.count(), len(fake_llm.requests)) == (stored, calls)


def test_the_rate_limit_is_per_user(api, acme, alice, bob) -> None:
    limit(acme, user_rpm=1)
    assert send(api, alice, start(api, alice)["id"]).status_code == 201
    assert send(api, bob, start(api, bob)["id"]).status_code == 201
    assert send(api, alice, start(api, alice)["id"]).status_code == 429


def test_a_request_needing_more_tokens_than_the_per_minute_limit_is_413(api, acme, alice) -> None:
    limit(acme, user_tpm=50)  # prompt plus max_tokens (256) can never fit
    response = send(api, alice, start(api, alice)["id"])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large_for_limit"
    assert "Retry-After" not in response


def _day_limit(name: str, key: str, budget: int) -> QuotaLimit:
    label, end = _periods_now()["day"]
    return QuotaLimit(name, f"quota:{key}:tokens:{label}", budget, end)


def _periods_now() -> dict:
    return periods_at(datetime.now(UTC))


def test_quota_settles_to_the_real_usage_and_then_refuses_naming_the_limit(api, acme, alice, fake_llm) -> None:
    limit(acme, user_tokens_day=300)  # one call reserves prompt + 256; a second cannot fit
    chat = start(api, alice)
    answer = send(api, alice, chat["id"], "Hello").json()["message"]
    used = answer["prompt_tokens"] + answer["completion_tokens"]
    quota = _day_limit("user_tokens_day", f"org:{acme.pk}:user:{alice.pk}", 300)
    (row,) = get_quota_store().usage(limits=[quota])
    assert (row.used, row.reserved) == (used, 0)
    stored, calls = Message.objects.count(), len(fake_llm.requests)
    refused = send(api, alice, chat["id"], "Again")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["details"]["limit"]) == ("quota_exceeded", "user_tokens_day")
    assert int(refused["Retry-After"]) >= 1
    assert (Message.objects.count(), len(fake_llm.requests)) == (stored, calls)
    assert get_quota_store().usage(limits=[quota])[0].used == used  # the refusal spent nothing


@pytest.mark.parametrize(("org_budget", "user_budget", "named"), [(200, 10_000, "org"), (10_000, 200, "user")])
def test_the_strictest_quota_is_named(api, acme, alice, org_budget, user_budget, named) -> None:
    limit(acme, org_tokens_day=org_budget, user_tokens_day=user_budget)
    response = send(api, alice, start(api, alice)["id"])
    assert response.status_code == 429
    assert response.json()["error"]["details"]["limit"] == f"{named}_tokens_day"


def test_quota_store_unreachable_refuses_with_503_and_stores_nothing(api, acme, alice, settings) -> None:
    limit(acme, org_tokens_day=1_000_000)
    chat = start(api, alice)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # only the limiter and quota store read it per call
    response = send(api, alice, chat["id"])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "quota_store_unavailable"
    assert int(response["Retry-After"]) >= 1
    assert not Message.objects.filter(conversation_id=chat["id"]).exists()


def test_rate_limits_fail_open_when_redis_is_unreachable(api, acme, alice, settings) -> None:
    limit(acme, user_rpm=5)
    chat = start(api, alice)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert send(api, alice, chat["id"]).status_code == 201


def test_openai_compatible_route_is_rate_limited_per_key(api, acme, alice, make_key) -> None:
    limit(acme, key_rpm=1)
    _, secret = make_key(alice, acme, ["chat"])
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}
    client = api(key=secret)
    assert client.post("/v1/chat/completions", body, format="json").status_code == 200
    refused = client.post("/v1/chat/completions", body, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == "key_rpm"
    assert "Retry-After" in refused


def test_the_conversation_route_still_answers_404_across_organisations(api, acme, alice, carol) -> None:
    limit(acme, user_rpm=1)
    chat = start(api, alice)
    response = api(carol).post(url("conversation-messages", pk=chat["id"]), {"content": "x"}, format="json")
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_a_refused_websocket_send_is_an_error_frame_with_retry_after(chat, fake_llm) -> None:
    await sync_to_async(limit)(chat["conversation"].org, user_rpm=1)
    socket = communicator(chat["path"], chat["key"])
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "send", "content": "one", "client_id": "c1"})
    assert (await frames_until_done(socket))[-1]["type"] == "done"
    await socket.send_json_to({"type": "send", "content": "two", "client_id": "c2"})
    frame = await socket.receive_json_from(timeout=5)
    await socket.disconnect()
    assert (frame["type"], frame["code"], frame["details"]["limit"]) == ("error", "rate_limited", "user_rpm")
    assert 1 <= frame["retry_after"] <= 60
    assert await sync_to_async(Message.objects.filter(client_id="c2").exists)() is False


def test_titles_do_not_spend_the_users_requests_per_minute(
    api, acme, alice, fake_llm, django_capture_on_commit_callbacks
) -> None:
    limit(acme, user_rpm=3)
    chat = start(api, alice)
    for content in ("one", "two", "three"):
        with django_capture_on_commit_callbacks(execute=True):
            assert send(api, alice, chat["id"], content).status_code == 201
    assert len(fake_llm.requests) == 4  # three answers and the title
    assert api(alice).get(url("conversation-detail", pk=chat["id"])).json()["title"]
    assert send(api, alice, chat["id"], "four").status_code == 429  # the fourth send is the user's own


def test_titles_pass_the_token_quotas_and_wait_when_refused(api, acme, alice, fake_llm) -> None:
    chat = start(api, alice)
    assert send(api, alice, chat["id"]).status_code == 201
    limit(acme, user_tokens_day=1)
    calls = len(fake_llm.requests)
    assert tasks.generate_title(conversation_id=chat["id"], org_id=str(acme.pk)) == ""
    assert len(fake_llm.requests) == calls  # refused by the quota: no model call
    assert api(alice).get(url("conversation-detail", pk=chat["id"])).json()["title"] == ""


def test_crossing_the_soft_limit_warns_once_per_period_with_an_audit_event(api, acme, alice) -> None:
    # One answer reserves prompt + 256 and uses far less; at 10% of 1000 the first answer crosses.
    limit(acme, user_tokens_day=1_000)
    acme.settings = {**acme.settings, "soft_limit_percent": 1}
    acme.save()
    chat = start(api, alice)
    first = send(api, alice, chat["id"]).json()
    (warning,) = first["warnings"]
    assert (warning["code"], warning["limit"], warning["budget"]) == ("soft_limit_reached", "user_tokens_day", 1_000)
    assert warning["used"] == first["message"]["prompt_tokens"] + first["message"]["completion_tokens"]
    assert "warnings" not in send(api, alice, chat["id"], "again").json()  # once per period
    events = AuditEvent.objects.filter(org=acme, action="quota.soft_limit_reached")
    assert [e.payload["limit"] for e in events] == ["user_tokens_day"]


def test_below_the_soft_limit_nothing_warns(api, acme, alice) -> None:
    limit(acme, user_tokens_day=1_000_000)
    assert "warnings" not in send(api, alice, start(api, alice)["id"]).json()
    assert not AuditEvent.objects.filter(action="quota.soft_limit_reached").exists()


def test_quota_keys_roll_over_at_day_and_month_boundaries() -> None:
    before = periods_at(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    after = periods_at(datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC))
    assert (before["day"][0], before["month"][0]) == ("day:2026-12-31", "month:2026-12")
    assert (after["day"][0], after["month"][0]) == ("day:2027-01-01", "month:2027-01")
    assert before["day"][1] == before["month"][1] == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_small_quota_holds_only_the_calls_own_answer_limit(api, acme, alice, make_key) -> None:
    limit(acme, user_tokens_day=120)  # far below the model's max_output (256) plus a prompt
    chat = start(api, alice, params_override={"max_tokens": 20})
    assert send(api, alice, chat["id"], "hi").status_code == 201
    _, secret = make_key(alice, acme, ["chat"])
    body = {"model": "fake", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    assert api(key=secret).post("/v1/chat/completions", body, format="json").status_code == 200
