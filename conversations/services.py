"""Synchronous writes for conversations: creating them, preparing a turn, recording its outcome.

Async transports call these through sync_to_async, so the event loop never waits on the database.
The user message is committed before the model is called; the assistant message exists (pending)
from the same transaction and is updated as text arrives.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit import services as audit
from chatpresets.errors import Conflict, InvalidInput, InvalidState, Unprocessable
from conversations import guardrails, tasks
from conversations.catalogue import ModelSpec, default_model, get_model
from conversations.context import ContextPlan, plan_context
from conversations.models import Conversation, Message, MessageStatus, Role, UsageKind, UsageRecord
from conversations.pii.policy import Screening, mode_for, screening
from conversations.selectors import history_loader, history_reader, last_user_message
from conversations.tokens import count_message, count_text
from presets.content import validate_params
from presets.models import Preset
from presets.resolve import ResolvedPreset, resolve_for_conversation
from tenancy.models import Membership


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
    variables: dict[str, Any] | None = None,
    model_override: str = "",
    params_override: dict[str, Any] | None = None,
) -> Conversation:
    """Checks the preset resolves (access, approval, variables) before anything is stored."""
    if preset is not None:
        resolve_for_conversation(
            membership=membership, preset_id=preset.pk, version=preset_version, values=variables or {}
        )
    if model_override:
        get_model(model_override)
    validate_params(params_override or {})
    conversation = Conversation.objects.create(
        org=membership.org,
        user=membership.user,
        title=title,
        preset=preset,
        preset_version=preset_version,
        variables=variables or {},
        model_override=model_override,
        params_override=params_override or {},
    )
    audit.record(
        org=membership.org,
        actor=membership.user,
        action="conversation.created",
        target=conversation,
        payload={"preset": str(preset.pk) if preset else None, "preset_version": preset_version},
    )
    return conversation


@dataclass
class PreparedTurn:
    conversation_id: Any
    user_message: Message
    assistant_message: Message
    plan: ContextPlan
    spec: ModelSpec
    params: dict[str, Any]
    max_tokens: int
    replayed: bool = False
    api_key_id: Any = None  # for the usage record and the key's limits
    admission: guardrails.Admission | None = None  # settled when the outcome is recorded
    screening: Screening | None = None  # the PII mode of this turn, and its vault
    model_messages: list[dict[str, str]] | None = None  # the prompt as the model sees it, when redacted


def _resolved(conversation: Conversation, membership: Membership) -> ResolvedPreset | None:
    if conversation.preset_id is None:
        return None
    return resolve_for_conversation(
        membership=membership,
        preset_id=conversation.preset_id,
        version=conversation.preset_version,
        values=conversation.variables,
        existing=True,
    )


def request_hash(content: str) -> str:
    return hashlib.sha256(json.dumps({"content": content}, sort_keys=True).encode()).hexdigest()


@transaction.atomic
def prepare_turn(
    *, membership: Membership, conversation: Conversation, content: str, client_id: str = "", api_key_id: Any = None
) -> PreparedTurn:
    """Store the user message and a pending answer, and plan the prompt; a repeated client id replays."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if client_id:
        existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
        if existing is not None:
            return _replay(existing, content)
    _ensure_idle(conversation)
    return _new_turn(conversation, membership, content, client_id, api_key_id)


@transaction.atomic
def prepare_edit(
    *, membership: Membership, conversation: Conversation, content: str, client_id: str = "", api_key_id: Any = None
) -> PreparedTurn:
    """Replace the last question (and its answers) with an edited one and answer that instead."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _ensure_idle(conversation)
    question = last_user_message(conversation)
    if question is None:
        raise InvalidState("There is no message to edit.")
    Message.objects.filter(Q(pk=question.pk) | Q(reply_to=question)).update(superseded=True)
    return _new_turn(conversation, membership, content, client_id, api_key_id)


@transaction.atomic
def prepare_regenerate(*, membership: Membership, conversation: Conversation, api_key_id: Any = None) -> PreparedTurn:
    """A fresh answer to the last question; the previous answer is kept but leaves the prompt."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _ensure_idle(conversation)
    question = last_user_message(conversation)
    if question is None:
        raise InvalidState("There is no message to answer again.")
    Message.objects.filter(reply_to=question, superseded=False).update(superseded=True)
    resolved, spec, params, max_tokens = _turn_settings(conversation, membership)
    plan = _plan(conversation, resolved, spec, max_tokens, new_message=question.content, before_seq=question.seq)
    screened = _screening(conversation, membership, resolved)
    admission = _admit(membership, api_key_id, conversation, resolved, plan, max_tokens)
    answer = _pending_answer(conversation, question, spec, resolved, plan, seq=_next_seq(conversation))
    return _prepared(conversation, question, answer, plan, spec, params, max_tokens, api_key_id, admission, screened)


def _ensure_idle(conversation: Conversation) -> None:
    unfinished = [MessageStatus.PENDING, MessageStatus.STREAMING]
    if Message.objects.filter(conversation=conversation, status__in=unfinished).exists():
        raise TurnInProgress()


def _next_seq(conversation: Conversation) -> int:
    return (Message.objects.filter(conversation=conversation).aggregate(m=Max("seq"))["m"] or 0) + 1


def _new_turn(
    conversation: Conversation, membership: Membership, content: str, client_id: str, api_key_id: Any
) -> PreparedTurn:
    if not content.strip():
        raise InvalidInput("The message is empty.", details={"field": "content"})
    resolved, spec, params, max_tokens = _turn_settings(conversation, membership)
    screened = _screening(conversation, membership, resolved)
    stored = screened.stored_text(content)  # `block` refuses here, before any limit is spent
    plan = _plan(conversation, resolved, spec, max_tokens, new_message=stored)
    admission = _admit(membership, api_key_id, conversation, resolved, plan, max_tokens)
    seq = _next_seq(conversation)
    user_message = Message.objects.create(
        org=conversation.org,
        conversation=conversation,
        seq=seq,
        role=Role.USER,
        content=stored,
        token_count=count_message(Role.USER, stored, spec.encoding),
        client_id=client_id,
        request_hash=request_hash(content),
        model=spec.name,
        preset_version=resolved.version if resolved else None,
        pii=screened.findings,
    )
    answer = _pending_answer(conversation, user_message, spec, resolved, plan, seq=seq + 1)
    _schedule_summary(conversation, plan)
    return _prepared(
        conversation, user_message, answer, plan, spec, params, max_tokens, api_key_id, admission, screened
    )


def _screening(conversation: Conversation, membership: Membership, resolved: ResolvedPreset | None) -> Screening:
    mode = mode_for(org_settings=membership.org.settings or {}, preset_policy=resolved.policy if resolved else None)
    return screening(mode=mode, stored=conversation.pii_vault or {})


def _prepared(
    conversation: Conversation,
    question: Message,
    answer: Message,
    plan: ContextPlan,
    spec: ModelSpec,
    params: dict[str, Any],
    max_tokens: int,
    api_key_id: Any,
    admission: guardrails.Admission,
    screened: Screening,
) -> PreparedTurn:
    """The turn as the transport runs it; a redacted prompt is built here, off the event loop."""
    model_messages = screened.for_model(plan.messages()) if screened.active else None
    vault = screened.stored_vault()
    if vault and vault != conversation.pii_vault:
        Conversation.objects.filter(pk=conversation.pk).update(pii_vault=vault)
    return PreparedTurn(
        conversation_id=conversation.pk,
        user_message=question,
        assistant_message=answer,
        plan=plan,
        spec=spec,
        params=params,
        max_tokens=max_tokens,
        api_key_id=api_key_id,
        admission=admission,
        screening=screened,
        model_messages=model_messages,
    )


def _admit(
    membership: Membership,
    api_key_id: Any,
    conversation: Conversation,
    resolved: ResolvedPreset | None,
    plan: ContextPlan,
    max_tokens: int,
) -> guardrails.Admission:
    """Before anything is stored: a refusal rolls back nothing because nothing was written yet."""
    return guardrails.admit(
        membership=membership,
        api_key_id=api_key_id,
        prompt_tokens=plan.used,
        max_tokens=max_tokens,
        preset_id=conversation.preset_id,
        preset_policy=resolved.policy if resolved else None,
    )


def _pending_answer(
    conversation: Conversation,
    question: Message,
    spec: ModelSpec,
    resolved: ResolvedPreset | None,
    plan: ContextPlan,
    *,
    seq: int,
) -> Message:
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return Message.objects.create(
        org=conversation.org,
        conversation=conversation,
        seq=seq,
        role=Role.ASSISTANT,
        status=MessageStatus.PENDING,
        model=spec.name,
        preset_version=resolved.version if resolved else None,
        reply_to=question,
        prompt_tokens=plan.used,
    )


def _schedule_summary(conversation: Conversation, plan: ContextPlan) -> None:
    if plan.dropped:
        tasks.enqueue(
            tasks.summarise,
            conversation_id=str(conversation.pk),
            org_id=str(conversation.org_id),
            through_seq=plan.dropped["through_seq"],
        )


def _turn_settings(
    conversation: Conversation, membership: Membership
) -> tuple[ResolvedPreset | None, ModelSpec, dict[str, Any], int]:
    """The preset version, model and parameters the next turn uses; max_tokens is capped by the model."""
    resolved = _resolved(conversation, membership)
    spec = get_model(conversation.model_override or (resolved.model if resolved else default_model()))
    params = {**(resolved.params if resolved else {}), **conversation.params_override}
    return resolved, spec, params, min(int(params.get("max_tokens") or spec.max_output), spec.max_output)


def _plan(
    conversation: Conversation,
    resolved: ResolvedPreset | None,
    spec: ModelSpec,
    max_tokens: int,
    *,
    new_message: str | None,
    before_seq: int | None = None,
) -> ContextPlan:
    return plan_context(
        context_window=_window(spec, resolved),
        reserved_output=max_tokens,
        encoding=spec.encoding,
        system_prompt=resolved.system_prompt if resolved else settings.DEFAULT_SYSTEM_PROMPT,
        summary=conversation.summary,
        summarised_through=conversation.summary_through_seq,
        history_newest_first=history_reader(conversation, before_seq),
        load_from=history_loader(conversation, before_seq),
        new_message=new_message,
    )


def _window(spec: ModelSpec, resolved: ResolvedPreset | None) -> int:
    limit = (resolved.policy.get("max_context_tokens") if resolved else None) or spec.context_window
    return min(limit, spec.context_window)


def _replay(user_message: Message, content: str) -> PreparedTurn:
    if user_message.request_hash != request_hash(content):
        raise IdempotencyMismatch(details={"client_id": user_message.client_id})
    answer = Message.objects.filter(reply_to=user_message).first()
    spec = get_model(user_message.model)
    plan = ContextPlan([], spec.context_window, 0, 0, answer.prompt_tokens if answer else 0, 0)
    return PreparedTurn(user_message.conversation_id, user_message, answer, plan, spec, {}, 0, replayed=True)


def record_progress(*, message_id: Any, text: str) -> None:
    """Flush streamed text so far; the message is `streaming` from its first token."""
    Message.objects.filter(pk=message_id, status__in=[MessageStatus.PENDING, MessageStatus.STREAMING]).update(
        content=text, status=MessageStatus.STREAMING, updated_at=timezone.now()
    )


def record_outcome(
    *,
    message_id: Any,
    text: str,
    status: str,
    spec: ModelSpec,
    prompt_tokens: int,
    finish_reason: str = "",
    error_code: str = "",
    ttft_ms: int | None = None,
    total_ms: int | None = None,
    model: str = "",
    api_key_id: Any = None,
    admission: guardrails.Admission | None = None,
) -> Message:
    """Final state of an answer: text, tokens counted locally, cost from the catalogue prices."""
    completion_tokens = count_text(text, spec.encoding) if text else 0
    # A call that produced nothing is taken as unbilled; anything else pays its prompt and output.
    guardrails.settle(admission, used_tokens=prompt_tokens + completion_tokens if text else 0)
    message = Message.objects.get(pk=message_id)
    message.content, message.status, message.finish_reason, message.error_code = text, status, finish_reason, error_code
    message.token_count = count_message(Role.ASSISTANT, text, spec.encoding) if text else 0
    message.prompt_tokens, message.completion_tokens = prompt_tokens, completion_tokens
    message.cost = spec.cost(prompt_tokens, completion_tokens)
    message.ttft_ms, message.total_ms, message.model = ttft_ms, total_ms, model or message.model
    message.save()
    _record_usage(message, api_key_id=api_key_id)
    if status == MessageStatus.COMPLETE and message.seq == 2:
        tasks.enqueue(tasks.generate_title, conversation_id=str(message.conversation_id), org_id=str(message.org_id))
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
    before = {
        "preset": str(conversation.preset_id) if conversation.preset_id else None,
        "preset_version": conversation.preset_version,
    }
    conversation.preset, conversation.preset_version, conversation.variables = preset, version, variables
    conversation.save(update_fields=["preset", "preset_version", "variables", "updated_at"])
    after = {"preset": str(preset.pk) if preset else None, "preset_version": version}
    audit.record(
        org=conversation.org,
        actor=membership.user,
        action="conversation.preset_applied",
        target=conversation,
        payload=audit.changes(before, after),
    )
    return conversation


def context_preview(*, conversation: Conversation, membership: Membership) -> dict[str, Any]:
    """Exactly what the next call would send (without a new message), with the budget arithmetic."""
    resolved, spec, _, max_tokens = _turn_settings(conversation, membership)
    explained = _plan(conversation, resolved, spec, max_tokens, new_message=None).explain()
    if resolved is not None and not resolved.prompt_visible:
        explained["parts"][0]["content"] = None  # `use` access runs the prompt without seeing it
    return {
        "model": spec.name,
        "encoding": spec.encoding,
        "preset_version": resolved.version if resolved else None,
        **explained,
    }


def _record_usage(message: Message, *, api_key_id: Any) -> None:
    conversation = message.conversation
    UsageRecord.objects.create(
        org_id=message.org_id,
        kind=UsageKind.CHAT,
        user_id=conversation.user_id,
        api_key_id=api_key_id,
        preset_id=conversation.preset_id,
        preset_version=message.preset_version,
        conversation=conversation,
        message=message,
        model=message.model,
        status=message.status,
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
        cost=message.cost,
        ttft_ms=message.ttft_ms,
        total_ms=message.total_ms,
    )
