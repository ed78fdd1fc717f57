"""Background work for conversations: running summaries, titles, and sweeping abandoned streams.

Tasks take ids plus the organisation id, never model instances, and re-read everything. A failed
summary never blocks chatting: until one lands, the context planner simply truncates.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from celery import shared_task
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from audit import services as audit
from chatpresets.errors import DomainError
from conversations import gateway, guardrails
from conversations.catalogue import get_model
from conversations.cost_controls import controls_for
from conversations.models import Conversation, Message, MessageStatus, Role, UsageKind, UsageRecord
from conversations.pii.policy import Screening, mode_for, screening
from conversations.selectors import IN_CONTEXT
from conversations.tokens import count_message, count_text
from tenancy.limits.quota import get_quota_store
from tenancy.models import Membership

logger = logging.getLogger(__name__)

SUMMARY_INSTRUCTIONS = (
    "You maintain a running summary of a conversation. Fold the new messages into the current summary. "
    "Keep names, numbers, decisions and open questions; drop pleasantries. Answer with the summary only."
)
TITLE_INSTRUCTIONS = "Give this conversation a short title of at most six words. Answer with the title only."


def enqueue(task: Any, **kwargs: Any) -> None:
    """After commit: to the broker when there is one; without one, on a background thread so the
    answer is not delayed (or inline, when BACKGROUND_TASKS_INLINE asks for determinism)."""

    def send() -> None:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            task.delay(**kwargs)
        elif settings.BACKGROUND_TASKS_INLINE:
            task(**kwargs)
        else:
            threading.Thread(target=_closing_connections, args=(task,), kwargs=kwargs, daemon=True).start()

    transaction.on_commit(send)


def _closing_connections(task: Any, **kwargs: Any) -> None:
    """Run a task on its own thread and hand the thread's connections back (to the pool) after."""
    try:
        task(**kwargs)
    finally:
        connections.close_all()


def summary_model(conversation: Conversation | None = None) -> str:
    """The organisation's cheap `summary_model`, else SUMMARY_MODEL, else the default model."""
    org_settings = conversation.org.settings if conversation is not None else {}
    return controls_for(org_settings).background_model()


@shared_task
def summarise(*, conversation_id: str, org_id: str, through_seq: int) -> int:
    """Fold messages up to `through_seq` into the running summary; returns the seq now covered."""
    conversation = Conversation.objects.filter(pk=conversation_id, org_id=org_id).select_related("org").first()
    if conversation is None or through_seq <= conversation.summary_through_seq:
        return conversation.summary_through_seq if conversation else 0
    start = conversation.summary_through_seq
    rows = Message.objects.filter(
        conversation=conversation, seq__gt=start, seq__lte=through_seq, status__in=IN_CONTEXT
    ).order_by("seq")
    transcript = "\n".join(f"{m.role}: {m.content}" for m in rows)
    prompt = _for_model(
        conversation, f"Current summary:\n{conversation.summary or '(none)'}\n\nNew messages:\n{transcript}"
    )
    result = _background_call(
        conversation, kind=UsageKind.SUMMARY, instructions=SUMMARY_INSTRUCTIONS, prompt=prompt,
        max_tokens=settings.SUMMARY_MAX_TOKENS,
    )  # fmt: skip
    if result is None:
        return start
    return _store_summary(conversation_id, start, through_seq, result.text.strip())


@transaction.atomic
def _store_summary(conversation_id: str, start: int, through_seq: int, text: str) -> int:
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if conversation.summary_through_seq != start:  # another summary landed meanwhile; keep it
        return conversation.summary_through_seq
    conversation.summary, conversation.summary_through_seq = text, through_seq
    conversation.summary_tokens = count_message(Role.ASSISTANT, text, get_model(summary_model(conversation)).encoding)
    conversation.save(update_fields=["summary", "summary_through_seq", "summary_tokens"])
    return through_seq


@shared_task
def generate_title(*, conversation_id: str, org_id: str) -> str:
    conversation = Conversation.objects.filter(pk=conversation_id, org_id=org_id).select_related("org").first()
    if conversation is None or conversation.title:
        return conversation.title if conversation else ""
    exchange = Message.objects.filter(conversation=conversation, status=MessageStatus.COMPLETE).order_by("seq")[:2]
    transcript = _for_model(conversation, "\n".join(f"{m.role}: {m.content[:2000]}" for m in exchange))
    result = _background_call(
        conversation, kind=UsageKind.TITLE, instructions=TITLE_INSTRUCTIONS, prompt=transcript, max_tokens=20
    )
    if result is None:
        return ""
    text = _screening(conversation).restore(result.text).strip()
    title = text.strip('"').splitlines()[0][:200] if text else ""
    Conversation.objects.filter(pk=conversation_id, title="").update(title=title)
    return title


@shared_task
def sweep_abandoned_streams() -> int:
    """Answers whose worker vanished (no flush for a while) become `interrupted`, keeping their text."""
    cutoff = timezone.now() - timedelta(seconds=settings.STREAM_ABANDONED_SECONDS)
    return Message.objects.filter(
        status__in=[MessageStatus.PENDING, MessageStatus.STREAMING], updated_at__lt=cutoff
    ).update(status=MessageStatus.INTERRUPTED, error_code="worker_lost", updated_at=timezone.now())


@shared_task
def release_expired_reservations() -> int:
    """Quota holds of calls that crashed before settling are freed once their ttl has passed."""
    return get_quota_store().release_expired()


@shared_task
def purge_deleted_conversations() -> int:
    """Conversations deleted longer ago than CONVERSATION_RETENTION_DAYS go, messages and all."""
    cutoff = timezone.now() - timedelta(days=settings.CONVERSATION_RETENTION_DAYS)
    purged = 0
    for conversation in Conversation.objects.filter(deleted_at__lt=cutoff).select_related("org"):
        with transaction.atomic():
            audit.record(org=conversation.org, actor=None, action="conversation.purged", target=conversation)
            conversation.delete()
            purged += 1
    return purged


def _screening(conversation: Conversation) -> Screening:
    """The PII mode the conversation's last turn ran under (or the organisation's), with its vault."""
    vault = conversation.pii_vault or {}
    mode = vault.get("mode") or mode_for(org_settings=conversation.org.settings or {}, preset_policy=None)
    return screening(mode=mode, stored=vault)


def _for_model(conversation: Conversation, text: str) -> str:
    """Summaries and titles pass the same PII redaction as the turns whose text they read."""
    screened = _screening(conversation)
    return screened.for_model([{"role": "user", "content": text}])[0]["content"]


def _background_call(
    conversation: Conversation, *, kind: str, instructions: str, prompt: str, max_tokens: int
) -> gateway.StreamResult | None:
    """One summary or title call through the same guardrails as a turn; None when refused or failed.

    It counts against the conversation owner's and the organisation's limits. A refusal only
    means the summary waits: until one lands, the context planner simply truncates.
    """
    spec = get_model(summary_model(conversation))
    messages = [{"role": "system", "content": instructions}, {"role": "user", "content": prompt}]
    prompt_tokens = sum(count_message(m["role"], m["content"], spec.encoding) for m in messages)
    membership = Membership.objects.filter(org_id=conversation.org_id, user_id=conversation.user_id).first()
    if membership is None:  # the owner has left the organisation: nothing more is spent on their behalf
        return None
    membership.org = conversation.org
    try:
        admission = guardrails.admit(
            membership=membership,
            api_key_id=None,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            estimated_cost=spec.cost(prompt_tokens, max_tokens),
        )
    except DomainError as error:
        logger.warning("%s of conversation %s refused: %s", kind, conversation.pk, error.code)
        return None
    try:
        result = async_to_sync(gateway.complete)(model=spec.name, messages=messages, max_tokens=max_tokens)
    except DomainError as error:
        guardrails.release(admission)
        logger.warning("%s of conversation %s failed: %s", kind, conversation.pk, error.code)
        return None
    record = _record_usage(conversation, kind, prompt, result)
    used = record.prompt_tokens + record.completion_tokens
    guardrails.settle(admission, used_tokens=used, used_cost=record.cost)
    return result


def _record_usage(conversation: Conversation, kind: str, prompt: str, result: gateway.StreamResult) -> UsageRecord:
    spec = get_model(result.model)
    prompt_tokens, completion_tokens = count_text(prompt, spec.encoding), count_text(result.text, spec.encoding)
    return UsageRecord.objects.create(
        org_id=conversation.org_id,
        kind=kind,
        conversation=conversation,
        model=result.model,
        status=result.status,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=spec.cost(prompt_tokens, completion_tokens),
        ttft_ms=result.ttft_ms,
        total_ms=result.total_ms,
    )
