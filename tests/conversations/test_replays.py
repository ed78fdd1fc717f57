"""Replays before approval through the API: who may run them, what they answer, what they spend."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from chatpresets import queue_limits
from conversations import tasks
from conversations.models import Conversation, Message, UsageRecord
from conversations.replays.models import Replay
from tests.factories import MembershipFactory
from tests.replays_world import conversation_on, preset_in_review

pytestmark = pytest.mark.usefixtures("fake_llm")


@pytest.fixture
def approver(acme):
    return MembershipFactory(org=acme, role="approver").user


@pytest.fixture
def preset(acme, bob, alice):
    """Bob's preset: version 1 approved by alice, version 2 in review."""
    return preset_in_review(acme, bob, "tutor", alice)


@pytest.fixture
def asked(preset, bob):
    return conversation_on(preset, bob, ["What is a preset?", "And a label?", "Why review?"])


def replays_url(preset, pk=None, action: str = "") -> str:
    kwargs = {"org_slug": preset.org.slug, "preset_id": preset.pk}
    if pk is None:
        return reverse("preset-replay-list", kwargs=kwargs)
    name = "preset-replay-cancel" if action == "cancel" else "preset-replay-detail"
    return reverse(name, kwargs={**kwargs, "pk": pk})


@pytest.fixture
def start(api, django_capture_on_commit_callbacks):
    """Start a replay as `user`; the task runs inline once the request commits."""

    def post(user, preset, **body):
        with django_capture_on_commit_callbacks(execute=True):
            return api(user).post(replays_url(preset), {"token_budget": 20_000, **body}, format="json")

    return post


def detail(api, user, preset, replay_id) -> dict:
    response = api(user).get(replays_url(preset, replay_id))
    assert response.status_code == 200, response.content
    return response.json()


def test_an_approver_replays_recent_turns_through_both_versions_side_by_side(
    api, start, approver, preset, asked, fake_llm
) -> None:
    started = start(approver, preset, turns=2)
    assert started.status_code == 201, started.content
    assert (started.json()["baseline_version"], started.json()["candidate_version"]) == (1, 2)
    body = detail(api, approver, preset, started.json()["id"])
    assert body["status"] == "done"
    assert [item["user_text"] for item in body["items"]] == ["And a label?", "Why review?"]
    systems = [request["messages"][0]["content"] for request in fake_llm.requests]
    assert systems == ["You are tutor.", "You are tutor, the candidate."] * 2
    # A turn replays with its conversation's earlier messages as context.
    assert [m["content"] for m in fake_llm.requests[0]["messages"][1:]] == [
        "What is a preset?",
        "Answer 0",
        "And a label?",
    ]
    item = body["items"][0]
    assert item["baseline"]["answer"]
    assert item["candidate"]["answer"]
    assert item["baseline"]["ttft_ms"] is not None
    assert item["candidate"]["total_ms"] is not None
    tokens = lambda side: item[side]["prompt_tokens"] + item[side]["completion_tokens"]  # noqa: E731
    assert item["difference"]["tokens"] == tokens("candidate") - tokens("baseline")
    totals = body["totals"]
    assert totals["compared"] == 2
    assert totals["difference"]["tokens"] == totals["candidate"]["tokens"] - totals["baseline"]["tokens"]
    assert body["tokens_spent"] == totals["baseline"]["tokens"] + totals["candidate"]["tokens"]


def test_a_replay_never_writes_to_the_source_conversations(api, start, approver, preset, asked) -> None:
    before_conversation = Conversation.objects.values().get(pk=asked.pk)
    before_messages = list(Message.objects.order_by("pk").values())
    response = start(approver, preset, source="conversations", conversations=[str(asked.pk)])
    assert response.status_code == 201, response.content
    assert Replay.objects.get(pk=response.json()["id"]).status == "done"
    assert Conversation.objects.values().get(pk=asked.pk) == before_conversation  # updated_at, summary, title…
    assert list(Message.objects.order_by("pk").values()) == before_messages  # no new rows, none changed
    kinds = set(UsageRecord.objects.values_list("kind", flat=True))
    assert kinds == {"replay"}  # no summary or title was asked for
    assert not UsageRecord.objects.exclude(conversation=None).exists()


def test_the_budget_skips_the_items_that_would_not_fit(api, start, approver, preset, asked, fake_llm) -> None:
    fake_llm.config.output_tokens = 40
    response = start(approver, preset, turns=3, token_budget=700)
    body = detail(api, approver, preset, response.json()["id"])
    statuses = [(item["status"], item["skip_reason"]) for item in body["items"]]
    # Each call reserves its prompt plus the 256-token answer limit; two items' four calls fit in 700,
    # the third item's first reservation would not.
    assert statuses == [("done", ""), ("done", ""), ("skipped", "budget")]
    assert len(fake_llm.requests) == 4
    ledger = sum(row.prompt_tokens + row.completion_tokens for row in UsageRecord.objects.filter(kind="replay"))
    assert body["tokens_spent"] == ledger
    third_prompt = body["items"][1]["baseline"]["prompt_tokens"] + 2 * 8  # one more exchange of history
    assert ledger + third_prompt + 256 > 700 >= ledger


def test_a_budget_above_the_operator_cap_or_the_organisations_is_refused(
    start, approver, preset, asked, settings
) -> None:
    settings.REPLAY_MAX_TOKEN_BUDGET = 5000
    refused = start(approver, preset, token_budget=5001)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "budget_above_limit")
    preset.org.settings = {**preset.org.settings, "replay_max_token_budget": 1000}
    preset.org.save()
    assert start(approver, preset, token_budget=1001).status_code == 400
    assert start(approver, preset, token_budget=1000).status_code == 201


def test_replays_count_against_the_approvers_quota_and_a_refusal_marks_the_item(
    api, start, approver, preset, asked, acme
) -> None:
    response = start(approver, preset, turns=1)
    rows = UsageRecord.objects.filter(kind="replay")
    assert rows.count() == 2
    assert set(rows.values_list("user_id", flat=True)) == {approver.pk}
    assert set(rows.values_list("preset_version", flat=True)) == {1, 2}
    acme.settings = {**acme.settings, "limits": {"user_tokens_day": 1}}
    acme.save()
    response = start(approver, preset, turns=1)
    item = detail(api, approver, preset, response.json()["id"])["items"][0]
    assert item["status"] == "done"
    assert item["baseline"]["error"] == item["candidate"]["error"] == "quota_exceeded"
    assert UsageRecord.objects.filter(kind="replay").count() == 2  # refused calls spent nothing


def test_the_model_receives_masked_text_under_redact_for_model(
    api, start, approver, preset, bob, acme, fake_llm
) -> None:
    acme.settings = {**acme.settings, "pii_mode": "redact_for_model"}
    acme.save()
    conversation_on(preset, bob, ["Mail canary.person@example.com please"])
    vault_before = Conversation.objects.get(preset=preset).pii_vault
    fake_llm.config.reply = "Sent to <EMAIL_1>"
    response = start(approver, preset, turns=1)
    sent = json.dumps([request["messages"] for request in fake_llm.requests])
    assert "canary.person@example.com" not in sent
    assert "<EMAIL_1>" in sent
    item = detail(api, approver, preset, response.json()["id"])["items"][0]
    assert item["candidate"]["answer"] == "Sent to canary.person@example.com"  # restored, as a chat turn's is
    assert Conversation.objects.get(preset=preset).pii_vault == vault_before


def test_block_mode_marks_a_turn_with_pii_instead_of_sending_it(
    api, start, approver, preset, bob, acme, fake_llm
) -> None:
    conversation_on(preset, bob, ["Card 4111 1111 1111 1111"])
    acme.settings = {**acme.settings, "pii_mode": "block"}
    acme.save()
    response = start(approver, preset, turns=1)
    item = detail(api, approver, preset, response.json()["id"])["items"][0]
    assert item["baseline"]["error"] == item["candidate"]["error"] == "pii_blocked"
    assert fake_llm.requests == []


def test_a_writer_who_may_not_review_gets_403_and_another_tenant_404(api, start, bob, carol, preset, asked) -> None:
    refused = start(bob, preset)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    assert api(bob).get(replays_url(preset)).status_code == 403
    assert start(carol, preset).status_code == 404  # carol is in globex: acme's slug is not hers
    assert Replay.objects.count() == 0


def test_another_tenants_conversation_id_is_404(start, approver, preset, asked, globex, carol) -> None:
    theirs = conversation_on(
        preset_in_review(globex, carol, "theirs", MembershipFactory(org=globex, role="owner").user), carol, ["Hi"]
    )
    response = start(approver, preset, source="conversations", conversations=[str(asked.pk), str(theirs.pk)])
    assert response.status_code == 404
    assert Replay.objects.count() == 0


def test_only_a_version_in_review_is_replayed(start, approver, preset, asked, alice) -> None:
    from presets.services import review

    review.preset_approve(preset=preset, actor=alice, number=2)
    response = start(approver, preset)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "version_not_in_review")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"turns": 51}, 400),
        ({"turns": 0}, 400),
        ({"token_budget": 0}, 400),
        ({"source": "conversations"}, 400),
        ({"source": "prompt_set"}, 400),
        ({"source": "conversations", "conversations": ["not-a-uuid"]}, 400),
    ],
)
def test_out_of_bounds_starts_are_refused(start, approver, preset, asked, body, status) -> None:
    assert start(approver, preset, **body).status_code == status
    assert Replay.objects.count() == 0


def test_too_many_turns_in_chosen_conversations_is_refused(start, approver, preset, bob) -> None:
    many = conversation_on(preset, bob, [f"Question {n}" for n in range(51)])
    response = start(approver, preset, source="conversations", conversations=[str(many.pk)])
    assert (response.status_code, response.json()["error"]["code"]) == (400, "too_many_turns")


def test_cancelling_a_queued_replay_skips_its_items_and_is_audited(api, approver, preset, asked) -> None:
    response = api(approver).post(
        replays_url(preset), {"token_budget": 5000}, format="json"
    )  # never committed: stays queued
    replay_id = response.json()["id"]
    cancelled = api(approver).post(replays_url(preset, replay_id, "cancel"))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    body = detail(api, approver, preset, replay_id)
    assert {(item["status"], item["skip_reason"]) for item in body["items"]} == {("skipped", "cancelled")}
    again = api(approver).post(replays_url(preset, replay_id, "cancel"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "replay_finished")
    actions = list(AuditEvent.objects.filter(target_id=replay_id).values_list("action", flat=True))
    assert sorted(actions) == ["replay.cancelled", "replay.started"]
    from conversations.replays import runner

    assert runner.run(replay_id=replay_id, org_id=str(preset.org_id)) == "cancelled"  # a late task does nothing


def test_the_sweep_runs_again_a_replay_whose_worker_vanished_and_fails_one_that_keeps_losing_it(
    api, approver, preset, asked, fake_llm, settings
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from conversations import tasks

    settings.REPLAY_STALLED_SECONDS = 60
    long_ago = timezone.now() - timedelta(minutes=5)
    lost, hopeless, live, forgotten = (
        api(approver).post(replays_url(preset), {"token_budget": 5000, "turns": 1}, format="json").json()["id"]
        for _ in range(4)
    )  # never committed: no task ran
    Replay.objects.filter(pk=lost).update(status="running", runs=1, progressed_at=long_ago)
    Replay.objects.filter(pk=hopeless).update(status="running", runs=3, progressed_at=long_ago)
    Replay.objects.filter(pk=live).update(status="running", runs=1, progressed_at=timezone.now())
    Replay.objects.filter(pk=forgotten).update(created_at=long_ago)  # queued, and no worker took it
    assert tasks.sweep_stalled_replays() == 3
    statuses = {str(pk): status for pk, status in Replay.objects.values_list("pk", "status")}
    assert statuses == {lost: "done", hopeless: "failed", live: "running", forgotten: "done"}
    assert Replay.objects.get(pk=lost).runs == 2
    assert detail(api, approver, preset, hopeless)["error_code"] == "worker_lost"
    assert detail(api, approver, preset, hopeless)["items"][0]["skip_reason"] == "failed"
    assert tasks.sweep_stalled_replays() == 0
    assert len(fake_llm.requests) == 4  # one item each of the lost and the forgotten, through both versions


def test_an_unexpected_error_fails_the_replay_and_skips_what_was_left(
    api, approver, preset, asked, monkeypatch
) -> None:
    from conversations.replays import runner

    replay_id = api(approver).post(replays_url(preset), {"token_budget": 5000, "turns": 2}, format="json").json()["id"]

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "_answer", broken)
    with pytest.raises(RuntimeError):
        runner.run(replay_id=replay_id, org_id=str(preset.org_id))
    body = detail(api, approver, preset, replay_id)
    assert (body["status"], body["error_code"]) == ("failed", "internal_error")
    assert {(item["status"], item["skip_reason"]) for item in body["items"]} == {("skipped", "failed")}


def test_a_replay_whose_approver_left_spends_nothing(api, approver, preset, asked, fake_llm) -> None:
    from conversations.replays import runner
    from tenancy.models import Membership

    replay_id = api(approver).post(replays_url(preset), {"token_budget": 5000, "turns": 2}, format="json").json()["id"]
    Membership.objects.filter(user=approver).delete()
    assert runner.run(replay_id=replay_id, org_id=str(preset.org_id)) == "failed"
    replay = Replay.objects.get(pk=replay_id)
    assert replay.error_code == "approver_left"
    assert (fake_llm.requests, UsageRecord.objects.count()) == ([], 0)


def test_an_api_key_needs_presets_write_to_start_a_replay(
    api, make_key, approver, acme, preset, asked, django_capture_on_commit_callbacks
) -> None:
    _, reading = make_key(approver, acme, ["presets:read"])
    _, writing = make_key(approver, acme, ["presets:write"])
    body = {"token_budget": 5000, "turns": 1}
    refused = api(key=reading).post(replays_url(preset), body, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    with django_capture_on_commit_callbacks(execute=True):
        started = api(key=writing).post(replays_url(preset), body, format="json")
    assert started.status_code == 201
    assert Replay.objects.get().status == "done"
    key_ids = set(UsageRecord.objects.values_list("api_key_id", flat=True))
    assert key_ids == {Replay.objects.get().api_key_id} != {None}  # the key's limits and ledger count it


def test_the_review_pages_form_replays_the_version_it_shows(client, approver, preset, asked) -> None:
    client.force_login(approver)
    url = reverse("preset-replays-page", kwargs={"org_slug": "acme", "preset_id": preset.pk})
    shown = client.get(f"{url}?version=2").content.decode()
    assert '<input type="hidden" name="version" value="2">' in shown
    assert 'name="version"' not in client.get(f"{url}?version=²").content.decode()


def test_a_turn_replays_with_the_running_summary_only_when_it_was_written_before_that_turn(
    start, approver, preset, asked, fake_llm
) -> None:
    Conversation.objects.filter(pk=asked.pk).update(summary="They asked what a preset is.", summary_through_seq=2)
    response = start(approver, preset, source="conversations", conversations=[str(asked.pk)])
    assert response.status_code == 201
    sent = [[m["content"] for m in request["messages"][1:]] for request in fake_llm.requests[::2]]
    assert sent == [
        ["What is a preset?"],  # the summary covers this turn and what followed: left out
        ["Summary of the earlier conversation:\nThey asked what a preset is.", "And a label?"],
        [
            "Summary of the earlier conversation:\nThey asked what a preset is.",
            "And a label?",
            "Answer 1",
            "Why review?",
        ],
    ]


def test_a_replay_started_while_its_queue_is_full_is_503_and_stores_nothing(
    start, approver, preset, asked, settings
) -> None:
    settings.CELERY_QUEUE_MAX_DEPTH = {"default": 1}
    finished = queue_limits.count_running(tasks.run_replay)
    try:
        refused = start(approver, preset)
    finally:
        finished()
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "queue_full"
    assert refused.json()["error"]["details"]["queue"] == "default"
    assert refused["Retry-After"] == "5"
    assert not Replay.objects.exists()
    assert not AuditEvent.objects.filter(action="replay.started").exists()
    assert start(approver, preset).status_code == 201


def test_a_replay_started_while_the_broker_is_unreachable_is_503_and_stores_nothing(
    start, approver, preset, asked, broker_unreachable
) -> None:
    refused = start(approver, preset)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "queue_unavailable"
    assert refused["Retry-After"] == "5"
    assert not Replay.objects.exists()
    assert not AuditEvent.objects.filter(action="replay.started").exists()
