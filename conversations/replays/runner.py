"""Running a replay: each item through the baseline and the candidate, within the token budget.

Every call goes through conversations.metered (admit → stream → finish): it lands in the usage
ledger as `replay` and counts against the organisation's and the approver's quotas, not their
requests per minute. A refusal or a failed call marks that side with its error code and the run
goes on. Before each call, the tokens spent plus the call's reservation (prompt plus answer limit)
must fit the budget; otherwise the item and every item after it end `skipped` (reason `budget`).

Nothing here writes to a source conversation: its messages are read as context, its PII vault is
copied into the screening and never saved back, and no summary or title is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from chatpresets.background import dispatch
from chatpresets.errors import DomainError
from chatpresets.llm.cost_controls import controls_for
from chatpresets.llm.pii.policy import screening_for
from chatpresets.llm.tokens import count_text
from chatpresets.queue_limits import QueueFull
from conversations import metered
from conversations.context import ContextPlan, plan_context
from conversations.models import Conversation, UsageKind
from conversations.replays.models import UNFINISHED, ItemStatus, Replay, ReplayItem, ReplayStatus
from conversations.selectors import history_loader, history_reader
from conversations.turn_setup import TurnSettings, model_prompt
from presets.resolve import resolve_for_review
from tenancy.models import Membership

logger = logging.getLogger(__name__)


class OverBudget(Exception):
    """The next call's reservation does not fit what is left of the replay's token budget."""


@dataclass
class Side:
    name: str  # baseline | candidate
    version: int


@dataclass
class Answer:
    model: str = ""
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Any = 0
    ttft_ms: int | None = None
    total_ms: int | None = None
    error: str = ""


def run(*, replay_id: str, org_id: str) -> str:
    """Run a queued replay to its end; returns its final status (a cancelled one stays cancelled).

    Only the run that moves it from `queued` to `running` goes on, so a task delivered twice runs once.
    """
    now = timezone.now()
    claimed = Replay.objects.filter(pk=replay_id, org_id=org_id, status=ReplayStatus.QUEUED).update(
        status=ReplayStatus.RUNNING,
        started_at=Coalesce("started_at", Value(now)),
        progressed_at=now,
        runs=F("runs") + 1,
    )
    replay = Replay.objects.filter(pk=replay_id, org_id=org_id).select_related("org", "preset").first()
    if replay is None or not claimed:
        return replay.status if replay else ""
    membership = Membership.objects.filter(org_id=org_id, user_id=replay.started_by_id).select_related("org").first()
    if membership is None:  # the approver left the organisation: nothing is spent in their name
        _fail(Replay.objects.filter(pk=replay.pk, status=ReplayStatus.RUNNING), "approver_left")
        return ReplayStatus.FAILED
    try:
        _run_items(replay, membership)
    except Exception:
        _fail(Replay.objects.filter(pk=replay.pk, status=ReplayStatus.RUNNING), "internal_error")
        raise
    return _end(replay)


# A replay whose worker vanished this many times is not run again: it fails as `worker_lost`.
MAX_RUNS = 3
SWEEP_BATCH = 100


def sweep_stalled(*, run_task: Callable[..., Any]) -> int:
    """Queue again the replays nobody runs (queued or running, untouched for REPLAY_STALLED_SECONDS);
    one that lost its worker MAX_RUNS times fails instead. Returns how many it handled."""
    cutoff = timezone.now() - timedelta(seconds=settings.REPLAY_STALLED_SECONDS)
    # A queued replay counts from its creation, or from the sweep's last requeue of it.
    never_run = Q(status=ReplayStatus.QUEUED, progressed_at__isnull=True, created_at__lt=cutoff)
    stalled = Replay.objects.filter(Q(status__in=UNFINISHED, progressed_at__lt=cutoff) | never_run)
    handled = 0
    for replay in stalled.only("pk", "org_id", "status", "runs")[:SWEEP_BATCH]:
        # Each change is conditional on the state read, so two sweepers never requeue the same run twice.
        unchanged = Replay.objects.filter(pk=replay.pk, status=replay.status, runs=replay.runs)
        if replay.runs >= MAX_RUNS:
            handled += _fail(unchanged, "worker_lost")
        elif unchanged.update(status=ReplayStatus.QUEUED, progressed_at=timezone.now()):
            try:
                dispatch(run_task, replay_id=str(replay.pk), org_id=str(replay.org_id))
            except QueueFull:  # queued, it is tried again once REPLAY_STALLED_SECONDS pass
                break
            handled += 1
    return handled


def _end(replay: Replay) -> str:
    """A run that went through every item is done, unless it was cancelled meanwhile."""
    Replay.objects.filter(pk=replay.pk, status=ReplayStatus.RUNNING).update(
        status=ReplayStatus.DONE, finished_at=timezone.now()
    )
    return Replay.objects.values_list("status", flat=True).get(pk=replay.pk)


def _fail(replays: Any, error_code: str) -> int:
    """Fail the replay `replays` selects (none, if it changed meanwhile); its pending items are skipped."""
    chosen = list(replays.values_list("pk", flat=True))
    failed = replays.filter(pk__in=chosen).update(
        status=ReplayStatus.FAILED, error_code=error_code, finished_at=timezone.now()
    )
    if failed:
        pending = ReplayItem.objects.filter(replay_id__in=chosen, status=ItemStatus.PENDING)
        pending.update(status=ItemStatus.SKIPPED, skip_reason="failed")
    return failed


def _cancelled(replay: Replay) -> bool:
    return Replay.objects.filter(pk=replay.pk, status=ReplayStatus.CANCELLED).exists()


def _run_items(replay: Replay, membership: Membership) -> None:
    sides = [Side("baseline", replay.baseline_version), Side("candidate", replay.candidate_version)]
    pending = replay.items.filter(status=ItemStatus.PENDING).select_related("source_message__conversation")
    for item in pending.order_by("position"):
        if _cancelled(replay):
            return
        try:
            for side in sides:
                _record(item, side, _answer(replay, membership, item, side))
        except OverBudget:
            item.status, item.skip_reason = ItemStatus.SKIPPED, "budget"
            item.save()
            replay.items.filter(status=ItemStatus.PENDING).update(status=ItemStatus.SKIPPED, skip_reason="budget")
            return
        item.status = ItemStatus.DONE
        item.save()
        Replay.objects.filter(pk=replay.pk).update(progressed_at=timezone.now())


def _record(item: ReplayItem, side: Side, answer: Answer) -> None:
    for field, value in vars(answer).items():
        setattr(item, f"{side.name}_{'answer' if field == 'text' else field}", value)


def _answer(replay: Replay, membership: Membership, item: ReplayItem, side: Side) -> Answer:
    """One version's answer to one item; a domain refusal is the answer's error code."""
    conversation = item.source_message.conversation if item.source_message is not None else None
    try:
        turn = _turn_settings(replay, membership, conversation, side)
        turn.screening.stored_text(item.user_text)  # `block` refuses a turn with PII, as a chat turn does
        plan = _plan(turn, conversation, item)
        if replay.tokens_spent + plan.used + turn.max_tokens > replay.token_budget:
            raise OverBudget()
        policy = turn.resolved.policy
        call = metered.admit(
            membership=membership,
            kind=UsageKind.REPLAY,
            spec=turn.spec,
            prompt_tokens=plan.used,
            max_tokens=turn.max_tokens,
            messages=model_prompt(plan, turn.screening).messages,
            params=turn.params,
            fallbacks=turn.controls.fallbacks(turn.spec, policy),
            api_key_id=replay.api_key_id,
            preset_id=replay.preset_id,
            preset_version=side.version,
            preset_policy=policy,
            background=True,
        )
    except DomainError as error:
        return Answer(error=error.code)
    call.user_id = membership.user_id  # the approver's own spending: the ledger counts it against them
    return _called(replay, call, turn.screening)


def _turn_settings(
    replay: Replay, membership: Membership, conversation: Conversation | None, side: Side
) -> TurnSettings:
    """The version's model, parameters and limits within the organisation's controls, and the PII mode
    over a copy of the source conversation's vault (never saved back)."""
    resolved = resolve_for_review(preset=replay.preset, version=side.version, values=_values(replay, conversation))
    controls = controls_for(membership.org.settings)
    spec = controls.model(resolved.model)
    screening = screening_for(
        org_settings=membership.org.settings,
        preset_policy=resolved.policy,
        stored=dict(conversation.pii_vault) if conversation is not None else None,
    )
    max_tokens = controls.answer_limit(spec, resolved.params.get("max_tokens"))
    return TurnSettings(resolved, spec, resolved.params, max_tokens, controls, screening)


def _called(replay: Replay, call: metered.MeteredCall, screening: Any) -> Answer:
    try:
        result = async_to_sync(metered.stream)(call, _ignore)
        completion = count_text(result.text, call.spec.encoding)
        record = metered.finish(call, status=result.status, completion_tokens=completion, result=result).record
    except DomainError as error:
        return Answer(model=call.spec.name, error=error.code)
    finally:
        metered.release(call)  # a no-op once finished
    spent = record.prompt_tokens + record.completion_tokens
    Replay.objects.filter(pk=replay.pk).update(tokens_spent=F("tokens_spent") + spent)
    replay.tokens_spent += spent
    return Answer(
        model=record.model,
        text=screening.restore(result.text),
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cost=record.cost,
        ttft_ms=result.ttft_ms,
        total_ms=result.total_ms,
    )


async def _ignore(text: str) -> None:
    """Nobody watches a replay stream; it streams for its time to first token."""


def _values(replay: Replay, conversation: Conversation | None) -> dict[str, Any]:
    """A turn of a conversation on this preset keeps its variables; other turns use the defaults."""
    return (
        dict(conversation.variables) if conversation is not None and conversation.preset_id == replay.preset_id else {}
    )


def _plan(turn: TurnSettings, conversation: Conversation | None, item: ReplayItem) -> ContextPlan:
    """The prompt as a chat turn at that point would build it; a prompt-set prompt has no history."""
    seq = item.source_message.seq if item.source_message is not None else None
    # A running summary that reaches this turn would tell the model what came later: then the turn
    # replays without it, and without history (all of which the summary had replaced).
    earlier_summary = conversation is not None and conversation.summary_through_seq < seq
    return plan_context(
        context_window=turn.controls.context_window(turn.spec, turn.resolved.policy.get("max_context_tokens")),
        reserved_output=turn.max_tokens,
        encoding=turn.spec.encoding,
        system_prompt=turn.resolved.system_prompt,
        summary=conversation.summary if earlier_summary else "",
        summarised_through=conversation.summary_through_seq if earlier_summary else 0,
        history_newest_first=history_reader(conversation, seq) if earlier_summary else [],
        load_from=history_loader(conversation, seq) if earlier_summary else None,
        new_message=item.user_text,
    )
