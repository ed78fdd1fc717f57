"""Synchronous writes for conversations: creating them, preparing a turn, recording its outcome.

Async transports call these through sync_to_async, so the event loop never waits on the database.
The user message is committed before the model is called; the assistant message exists (pending)
from the same transaction and is updated as text arrives.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import services as audit
from chatpresets import version_tokens
from chatpresets.background import enqueue_if_room
from chatpresets.errors import Conflict, InvalidInput, InvalidState, Unprocessable, too_large
from chatpresets.llm import gateway
from chatpresets.llm.catalogue import get_model
from chatpresets.llm.cost_controls import controls_for
from chatpresets.llm.pii.policy import Screening
from chatpresets.llm.tokens import count_message, count_text
from conversations import metered, tasks
from conversations.context import ContextPlan
from conversations.models import Conversation, Message, MessageStatus, Role, TurnKind, UsageKind
from conversations.selectors import last_user_message
from conversations.turn_setup import TurnSettings, model_prompt, plan_and_admit, plan_turn, turn_settings
from presets.content import validate_params
from presets.experiments.selectors import assignment_for
from presets.models import Preset
from presets.resolve import resolve_for_conversation
from tenancy.metering import guardrails
from tenancy.models import Membership

UNFINISHED = [MessageStatus.PENDING, MessageStatus.STREAMING]


class IdempotencyMismatch(Unprocessable):
    code = "idempotency_key_reused"
    message = "This idempotency key was used with a different request."


class TurnInProgress(Conflict):
    code = "turn_in_progress"
    message = "An answer is still being written in this conversation."


@transaction.atomic
def conversation_create(
    *,
    membership: Membership,
    title: str = "",
    preset: Preset | None = None,
    preset_version: int | None = None,
    preset_label: str = "",
    variables: dict[str, Any] | None = None,
    model_override: str = "",
    params_override: dict[str, Any] | None = None,
) -> Conversation:
    """Checks the preset resolves (access, approval, variables) before anything is stored; a
    conversation pins a version or follows a label, not both.

    A conversation that follows the preset's newest approved version or a label joins the running
    experiment of that slot, if its unit falls in the traffic: the variant's preset and version are
    pinned (and the label is no longer followed).
    """
    if preset_label and (preset is None or preset_version is not None):
        raise InvalidInput(
            "A label is followed instead of a pinned version, and needs a preset.", details={"field": "preset_label"}
        )
    conversation_id = uuid.uuid4()  # the unit of a per-conversation experiment, before the row exists
    joined = None
    if preset is not None and preset_version is None:
        joined = assignment_for(
            org=membership.org,
            preset=preset,
            user_id=membership.user_id,
            conversation_id=conversation_id,
            label=preset_label,
        )
        if joined is not None:
            preset, preset_version, preset_label = joined.variant.preset, joined.variant.version, ""
    if preset is not None:
        resolve_for_conversation(
            membership=membership,
            preset_id=preset.pk,
            version=preset_version,
            values=variables or {},
            label=preset_label,
        )
    elif variables:
        raise _variables_without_preset()
    if model_override:
        controls_for(membership.org.settings).model(model_override)
    validate_params(params_override or {})
    conversation = Conversation.objects.create(
        id=conversation_id,
        org=membership.org,
        user=membership.user,
        title=title,
        preset=preset,
        preset_version=preset_version,
        preset_label=preset_label,
        experiment=joined.experiment if joined else None,
        experiment_variant=joined.variant if joined else None,
        variables=variables or {},
        model_override=model_override,
        params_override=params_override or {},
    )
    payload: dict[str, Any] = {
        "preset": str(preset.pk) if preset else None,
        "preset_version": preset_version,
        "preset_label": preset_label,
    }
    if joined is not None:
        payload |= {"experiment": str(joined.experiment.pk), "experiment_variant": joined.variant.name}
    audit.record(
        org=membership.org, actor=membership.user, action="conversation.created", target=conversation, payload=payload
    )
    return conversation


def _variables_without_preset() -> InvalidInput:
    """Nothing would read them, so nothing stores them unchecked."""
    return InvalidInput(
        "Variables fill a preset's prompt; this conversation has no preset.", details={"field": "variables"}
    )


@dataclass
class PreparedTurn:
    conversation_id: Any
    user_message: Message
    assistant_message: Message
    plan: ContextPlan
    call: metered.MeteredCall | None = None  # the admitted model call; finished when the outcome is recorded
    replayed: bool = False  # a replay runs no call
    screening: Screening | None = None  # the PII mode of this turn, and its vault


def request_hash(content: str) -> str:
    return hashlib.sha256(json.dumps({"content": content}, sort_keys=True).encode()).hexdigest()


@contextmanager
def turn_transaction() -> Iterator[None]:
    """What a turn is prepared in: one transaction, and around it (so a failed commit releases too)
    the release of every admission made inside if anything fails. The preset and the limit overrides
    the turn reads from this process's copies have their organisation's tokens read in one round trip."""
    with guardrails.released_on_error(), version_tokens.read_together(), transaction.atomic():
        yield


@turn_transaction()
def prepare_turn(
    *, membership: Membership, conversation: Conversation, content: str, client_id: str = "", api_key_id: Any = None
) -> PreparedTurn:
    """Store the user message and a pending answer, and plan the prompt; a repeated client id replays."""
    return prepare_turn_locked(
        membership=membership,
        conversation=_locked(conversation),
        content=content,
        client_id=client_id,
        api_key_id=api_key_id,
    )


def prepare_turn_locked(
    *, membership: Membership, conversation: Conversation, content: str, client_id: str = "", api_key_id: Any = None
) -> PreparedTurn:
    """prepare_turn for a conversation read `FOR UPDATE` (with its org) in the caller's turn_transaction()."""
    _refuse_null_characters(content=content, client_id=client_id)
    state = _turn_state(conversation, client_id)
    if (replayed := _replay_for(state, content)) is not None:
        return replayed
    seq = _ensure_idle(conversation, state)
    return _new_turn(conversation, membership, content, client_id, api_key_id, seq)


@turn_transaction()
def prepare_edit(
    *, membership: Membership, conversation: Conversation, content: str, client_id: str = "", api_key_id: Any = None
) -> PreparedTurn:
    """Replace the last question (and its answers) with an edited one and answer that instead."""
    return prepare_edit_locked(
        membership=membership,
        conversation=_locked(conversation),
        content=content,
        client_id=client_id,
        api_key_id=api_key_id,
    )


def prepare_edit_locked(
    *, membership: Membership, conversation: Conversation, content: str, client_id: str = "", api_key_id: Any = None
) -> PreparedTurn:
    """prepare_edit for a conversation read `FOR UPDATE` (with its org) in the caller's turn_transaction()."""
    _refuse_null_characters(content=content, client_id=client_id)
    state = _turn_state(conversation, client_id)
    if (replayed := _replay_for(state, content)) is not None:
        return replayed  # a retried edit; its question is now the last one, so it is not edited again
    seq = _ensure_idle(conversation, state)
    question = last_user_message(conversation)
    if question is None:
        raise InvalidState("There is no message to edit.")
    Message.objects.filter(Q(pk=question.pk) | Q(reply_to=question)).update(superseded=True)
    return _new_turn(conversation, membership, content, client_id, api_key_id, seq, kind=TurnKind.EDIT)


@turn_transaction()
def prepare_regenerate(*, membership: Membership, conversation: Conversation, api_key_id: Any = None) -> PreparedTurn:
    """A fresh answer to the last question; the previous answer is kept but leaves the prompt."""
    return prepare_regenerate_locked(membership=membership, conversation=_locked(conversation), api_key_id=api_key_id)


def prepare_regenerate_locked(
    *, membership: Membership, conversation: Conversation, api_key_id: Any = None
) -> PreparedTurn:
    """prepare_regenerate for a conversation read `FOR UPDATE` (with its org) in the caller's turn_transaction()."""
    seq = _ensure_idle(conversation, _turn_state(conversation))
    question = last_user_message(conversation)
    if question is None:
        raise InvalidState("There is no message to answer again.")
    Message.objects.filter(reply_to=question, superseded=False).update(superseded=True)
    turn = turn_settings(conversation, membership)
    plan, call = plan_and_admit(
        conversation, membership, turn, api_key_id=api_key_id, new_message=question.content, before_seq=question.seq
    )
    holds = metered.holds(call)
    answer = _pending_answer(conversation, question, turn, plan, seq=seq, holds=holds, kind=TurnKind.REGENERATE)
    answer.save(force_insert=True)
    return _prepared(conversation, question, answer, plan, turn, call)


def _locked(conversation: Conversation) -> Conversation:
    """The conversation re-read under its row lock, with its organisation (the new messages' `org`) in
    the same query; only the conversation's row is locked."""
    return Conversation.objects.select_related("org").select_for_update(of=("self",)).get(pk=conversation.pk)


def _refuse_null_characters(**fields: str) -> None:
    """PostgreSQL text cannot hold NUL: refused here for every transport, as the serializers do."""
    for field, text in fields.items():
        if "\x00" in text:
            raise InvalidInput("Null characters are not allowed.", details={"field": field})


@dataclass(frozen=True)
class TurnState:
    """What a turn checks before it writes, read in one query once the conversation's row is locked.

    Not in the locking query itself: PostgreSQL evaluates its subqueries in the snapshot taken
    before waiting for the lock, which would miss the messages of the turn that held it.
    """

    last_seq: int
    unfinished: bool  # an answer is pending or streaming
    replay_of: Any = None  # the message this client id already made in the conversation


def _turn_state(conversation: Conversation, client_id: str = "") -> TurnState:
    messages = Message.objects.filter(conversation_id=conversation.pk)
    columns = {
        "last_seq": Coalesce(Subquery(messages.order_by("-seq").values("seq")[:1]), 0),
        "unfinished": Exists(messages.filter(status__in=UNFINISHED)),
    }
    if client_id:  # the first, as the unique constraint allows one
        columns["replay_of"] = Subquery(messages.filter(client_id=client_id).order_by("seq").values("pk")[:1])
    row = Conversation.objects.filter(pk=conversation.pk).values(**columns).get()
    return TurnState(**row)


def _ensure_idle(conversation: Conversation, state: TurnState) -> int:
    """The next message's seq; refuse while an answer is unfinished, unless it is stale: its process
    died, and the conversation need not wait for the sweep (the caller holds the conversation's row lock)."""
    if state.unfinished:
        interrupt_abandoned_answers(conversation_id=conversation.pk)
        if Message.objects.filter(conversation=conversation, status__in=UNFINISHED).exists():
            raise TurnInProgress()
    return state.last_seq + 1


def _new_turn(
    conversation: Conversation,
    membership: Membership,
    content: str,
    client_id: str,
    api_key_id: Any,
    seq: int,
    kind: str = TurnKind.NEW,
) -> PreparedTurn:
    if len(content) > settings.MESSAGE_MAX_CHARS:  # before PII screening and token counting read it
        raise too_large(
            field="content",
            limit="MESSAGE_MAX_CHARS",
            limit_value=settings.MESSAGE_MAX_CHARS,
            size=len(content),
            what="The message",
        )
    if not content.strip():
        raise InvalidInput("The message is empty.", details={"field": "content"})
    turn = turn_settings(conversation, membership)
    screened = turn.screening
    stored = screened.stored_text(content)  # `block` refuses here, before any limit is spent
    plan, call = plan_and_admit(conversation, membership, turn, api_key_id=api_key_id, new_message=stored)
    spec, resolved = turn.spec, turn.resolved
    user_message = Message(
        org=conversation.org,
        conversation=conversation,
        seq=seq,
        role=Role.USER,
        content=stored,
        token_count=count_message(Role.USER, stored, spec.encoding),
        client_id=client_id,
        request_hash=request_hash(content),
        model=spec.name,
        preset_id=resolved.preset_id if resolved else None,
        preset_version=resolved.version if resolved else None,
        pii=screened.findings,
    )
    holds = metered.holds(call)
    answer = _pending_answer(conversation, user_message, turn, plan, seq=seq + 1, holds=holds, kind=kind)
    Message.objects.bulk_create([user_message, answer])  # one INSERT for both (no signals listen to Message)
    _schedule_summary(conversation, plan)
    return _prepared(conversation, user_message, answer, plan, turn, call)


def _prepared(
    conversation: Conversation,
    question: Message,
    answer: Message,
    plan: ContextPlan,
    turn: TurnSettings,
    call: metered.MeteredCall,
) -> PreparedTurn:
    """The turn as the transport runs it; the model's messages are built here, off the event loop."""
    screened = turn.screening
    call.messages, call.message_id = model_prompt(plan, screened).messages, answer.pk
    vault = screened.stored_vault()
    changes: dict[str, Any] = {"updated_at": timezone.now()}  # the conversation moves up the list
    if vault and vault != conversation.pii_vault:
        changes["pii_vault"] = vault
    Conversation.objects.filter(pk=conversation.pk).update(**changes)  # one UPDATE per turn
    return PreparedTurn(
        conversation_id=conversation.pk,
        user_message=question,
        assistant_message=answer,
        plan=plan,
        call=call,
        screening=screened,
    )


def _pending_answer(
    conversation: Conversation,
    question: Message,
    turn: TurnSettings,
    plan: ContextPlan,
    *,
    seq: int,
    holds: dict[str, str],
    kind: str,
) -> Message:
    """The pending answer, not yet saved; `kind` says whether it answers a new, edited or repeated question."""
    return Message(
        org=conversation.org,
        conversation=conversation,
        seq=seq,
        role=Role.ASSISTANT,
        status=MessageStatus.PENDING,
        model=turn.spec.name,
        preset_id=turn.resolved.preset_id if turn.resolved else None,
        preset_version=turn.resolved.version if turn.resolved else None,
        turn_kind=kind,
        reply_to=question,
        prompt_tokens=plan.used,
        holds=holds,
    )


def _schedule_summary(conversation: Conversation, plan: ContextPlan) -> None:
    if plan.dropped:  # with the summaries queue full the window stays truncated until a later turn
        enqueue_if_room(
            tasks.summarise,
            conversation_id=str(conversation.pk),
            org_id=str(conversation.org_id),
            through_seq=plan.dropped["through_seq"],
        )


def _replay_for(state: TurnState, content: str) -> PreparedTurn | None:
    """The first result of a turn this client id already made in the conversation, or None."""
    return None if state.replay_of is None else _replay(Message.objects.get(pk=state.replay_of), content)


def _replay(user_message: Message, content: str) -> PreparedTurn:
    if user_message.request_hash != request_hash(content):
        raise IdempotencyMismatch(details={"client_id": user_message.client_id})
    answer = Message.objects.filter(reply_to=user_message).first()
    spec = get_model(user_message.model)
    plan = ContextPlan([], spec.context_window, 0, 0, answer.prompt_tokens if answer else 0, 0)
    return PreparedTurn(user_message.conversation_id, user_message, answer, plan, replayed=True)


def abandon_turn(*, prepared: PreparedTurn) -> None:
    """End a prepared turn that will never run (its caller left first): cancelled, nothing charged."""
    if prepared.call is not None:
        finish_turn(call=prepared.call, text="", status=MessageStatus.CANCELLED)


ABANDONED_BATCH = 500


def interrupt_abandoned_answers(*, conversation_id: Any = None) -> int:
    """Unfinished answers (of one conversation, or all) not written for STREAM_ABANDONED_SECONDS lost
    their process: a live answer is written at least every STREAM_FLUSH_SECONDS. Each becomes
    `interrupted` with the text it had, is billed for that text in the ledger, and frees its holds."""
    cutoff = timezone.now() - timedelta(seconds=settings.STREAM_ABANDONED_SECONDS)
    stale = Message.objects.filter(status__in=UNFINISHED, updated_at__lt=cutoff)
    if conversation_id is not None:
        stale = stale.filter(conversation_id=conversation_id)
    finished = 0
    for message_id in stale.values_list("pk", flat=True)[:ABANDONED_BATCH]:
        # Claimed by one conditional write, so two sweepers never bill the same answer twice.
        if Message.objects.filter(pk=message_id, status__in=UNFINISHED).update(status=MessageStatus.INTERRUPTED):
            _finish_abandoned(Message.objects.get(pk=message_id))
            finished += 1
    return finished


def answer_if_ended(*, message_id: Any) -> Message | None:
    """The answer once it has ended, or None while it may still be streaming somewhere. One left
    unwritten for STREAM_ABANDONED_SECONDS lost its process: it is ended here as `interrupted`, as
    the sweep would, so a reader following it does not wait for the next sweep."""
    message = Message.objects.get(pk=message_id)
    if message.status in UNFINISHED and interrupt_abandoned_answers(conversation_id=message.conversation_id):
        message.refresh_from_db()
    return None if message.status in UNFINISHED else message


def _finish_abandoned(message: Message) -> None:
    holds = message.holds or {}
    admission = metered.admission_from(holds)
    try:
        spec = get_model(message.model)
    except InvalidInput:  # the model left the catalogue since: nothing to price it with
        guardrails.release(admission)
        Message.objects.filter(pk=message.pk).update(error_code="worker_lost", holds={})
        return
    conversation = message.conversation
    call = metered.MeteredCall(
        kind=UsageKind.CHAT,
        org_id=message.org_id,
        user_id=conversation.user_id,
        spec=spec,
        prompt_tokens=message.prompt_tokens,
        max_tokens=0,
        api_key_id=holds.get("api_key"),
        preset_id=conversation.preset_id,
        preset_version=message.preset_version,
        conversation_id=conversation.pk,
        message_id=message.pk,
        admission=admission,
    )
    finish_turn(call=call, text=message.content, status=MessageStatus.INTERRUPTED, error_code="worker_lost")


def record_progress(*, message_id: Any, text: str) -> None:
    """Flush streamed text so far; the message is `streaming` from its first token."""
    Message.objects.filter(pk=message_id, status__in=UNFINISHED).update(
        content=text, status=MessageStatus.STREAMING, updated_at=timezone.now()
    )


def record_alive(*, message_id: Any) -> None:
    """Touch an unfinished answer that has no new text (a slow first token), so it never looks abandoned."""
    Message.objects.filter(pk=message_id, status__in=UNFINISHED).update(updated_at=timezone.now())


def finish_turn(
    *,
    call: metered.MeteredCall,
    text: str,
    status: str,
    result: gateway.StreamResult | None = None,
    error_code: str = "",
    attempts: list[dict[str, Any]] | None = None,
) -> Message:
    """Final state of an answer: text, tokens counted locally, cost from the catalogue prices.

    The turn's call is finished here (settled, and its one usage row written with the answer);
    if anything fails before that, its hold is released instead.
    """
    try:
        spec = call.spec
        completion_tokens = count_text(text, spec.encoding) if text else 0
        message = Message.objects.get(pk=call.message_id)
        message.content, message.status, message.error_code = text, status, error_code
        message.finish_reason = result.finish_reason if result else ""
        message.token_count = count_message(Role.ASSISTANT, text, spec.encoding) if text else 0
        message.prompt_tokens, message.completion_tokens = call.prompt_tokens, completion_tokens
        message.ttft_ms, message.total_ms = (result.ttft_ms, result.total_ms) if result else (None, None)
        message.model, message.holds = result.model if result else message.model, {}
        with transaction.atomic():  # the usage row and the answer it bills are stored together
            finished = metered.finish(
                call,
                status=status,
                completion_tokens=completion_tokens,
                result=result,
                model=message.model,
                attempts=attempts or [],
                priced_as=spec,  # the turn's own model prices it, as its stored cost has always meant
                charged=bool(text),  # a call that produced nothing is unbilled; anything else pays it all
            )
            # Not stored: the transports add these to the answer they send (`warnings`).
            message.cost, message.quota_warnings = finished.record.cost, finished.warnings
            message.save()
    finally:
        metered.release(call)  # a no-op once finished
    if status == MessageStatus.COMPLETE and message.seq == 2:
        enqueue_if_room(tasks.generate_title, conversation_id=str(message.conversation_id), org_id=str(message.org_id))
    return message


@transaction.atomic
def conversation_rename(*, conversation: Conversation, membership: Membership, title: str) -> Conversation:
    before = conversation.title
    conversation.title = title
    conversation.save(update_fields=["title", "updated_at"])
    audit.record(
        org=conversation.org,
        actor=membership.user,
        action="conversation.renamed",
        target=conversation,
        payload={"title": {"before": before, "after": title}},
    )
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation, membership: Membership) -> None:
    conversation.deleted_at = timezone.now()
    conversation.save(update_fields=["deleted_at", "updated_at"])
    audit.record(org=conversation.org, actor=membership.user, action="conversation.deleted", target=conversation)


@transaction.atomic
def conversation_apply_preset(
    *,
    conversation: Conversation,
    membership: Membership,
    preset: Preset | None,
    version: int | None,
    variables: dict[str, Any],
) -> Conversation:
    """Takes effect from the next turn; `version=None` follows the newest approved version."""
    if preset is not None:
        resolve_for_conversation(membership=membership, preset_id=preset.pk, version=version, values=variables)
    elif variables:
        raise _variables_without_preset()
    before = {
        "preset": str(conversation.preset_id) if conversation.preset_id else None,
        "preset_version": conversation.preset_version,
        "preset_via": conversation.preset_via,
        "experiment": str(conversation.experiment_id) if conversation.experiment_id else None,
    }
    conversation.preset, conversation.preset_version, conversation.variables = preset, version, variables
    conversation.preset_via, conversation.preset_link = "", None  # a preset of the organisation's own
    conversation.preset_label = ""  # applying a preset or version stops following a label
    # A conversation whose person chose another preset no longer measures its variant.
    conversation.experiment, conversation.experiment_variant = None, None
    fields = ["preset", "preset_version", "preset_label", "variables", "preset_via", "preset_link", "updated_at"]
    fields += ["experiment", "experiment_variant"]
    conversation.save(update_fields=fields)
    after = {
        "preset": str(preset.pk) if preset else None,
        "preset_version": version,
        "preset_via": "",
        "experiment": None,
    }
    audit.record(
        org=conversation.org,
        actor=membership.user,
        action="conversation.preset_applied",
        target=conversation,
        payload=audit.changes(before, after),
    )
    return conversation


def context_preview(*, conversation: Conversation, membership: Membership) -> dict[str, Any]:
    """Exactly what the next call would send (without a new message), with the budget arithmetic.

    The contents are the model's (turn_setup.model_prompt, as a turn sends them). Where the PII
    screening put placeholders is shown to the conversation's owner only, and never the values.
    """
    turn = turn_settings(conversation, membership)
    resolved, spec = turn.resolved, turn.spec
    plan = plan_turn(conversation, turn, new_message=None)
    prompt = model_prompt(plan, turn.screening)
    explained = plan.explain(contents=[message["content"] for message in prompt.messages])
    if resolved is not None and not resolved.prompt_visible:
        explained["parts"][0]["content"] = None  # `use` access runs the prompt without seeing it
    pii: dict[str, Any] = {"mode": turn.screening.mode}
    if conversation.user_id == membership.user_id:
        pii["findings"] = [asdict(finding) for finding in prompt.findings]
    return {
        "model": spec.name,
        "encoding": spec.encoding,
        "preset_version": resolved.version if resolved else None,
        "experiment": _experiment_shown(conversation),
        **explained,
        "pii": pii,
    }


def _experiment_shown(conversation: Conversation) -> dict[str, Any] | None:
    """The experiment and variant the conversation joined, for the context inspector."""
    variant = conversation.experiment_variant
    if variant is None:
        return None
    experiment = variant.experiment
    return {"id": str(experiment.pk), "name": experiment.name, "status": experiment.status, "variant": variant.name}
