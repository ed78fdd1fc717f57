"""Background work for conversations: running summaries, titles and replays, and sweeping abandoned
streams and stalled replays.

Tasks take ids plus the organisation id, never model instances, and re-read everything. A failed
summary never blocks chatting: until one lands, the context planner simply truncates.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from chatpresets.errors import DomainError
from chatpresets.llm import gateway
from chatpresets.llm.catalogue import get_model
from chatpresets.llm.cost_controls import controls_for
from chatpresets.llm.pii.policy import Screening, mode_for, screening
from chatpresets.llm.tokens import count_message, count_text, truncate_text
from conversations import metered, services
from conversations.models import Conversation, Message, MessageStatus, Role, UsageKind
from conversations.replays import runner
from conversations.selectors import IN_CONTEXT
from tenancy.metering.quota import get_quota_store
from tenancy.models import Membership

logger = logging.getLogger(__name__)

SUMMARY_INSTRUCTIONS = (
    "You maintain a running summary of a conversation. Fold the new messages into the current summary. "
    "Keep names, numbers, decisions and open questions; drop pleasantries. Answer with the summary only."
)
# The instructions, the "Current summary"/"New messages" framing and the per-message role labels.
SUMMARY_FRAMING_TOKENS = 256
TITLE_INSTRUCTIONS = "Give this conversation a short title of at most six words. Answer with the title only."


def summary_model(conversation: Conversation | None = None) -> str:
    """The organisation's cheap `summary_model`, else SUMMARY_MODEL, else the default model."""
    org_settings = conversation.org.settings if conversation is not None else {}
    return controls_for(org_settings).background_model()


@shared_task
def summarise(*, conversation_id: str, org_id: str, through_seq: int) -> int:
    """Fold messages up to `through_seq` into the running summary; returns the seq now covered."""
    while True:
        conversation = Conversation.objects.filter(pk=conversation_id, org_id=org_id).select_related("org").first()
        if conversation is None or through_seq <= conversation.summary_through_seq:
            return conversation.summary_through_seq if conversation else 0
        start = conversation.summary_through_seq
        transcript, batch_end = _summary_batch(conversation, through_seq)
        prompt = _for_model(
            conversation, f"Current summary:\n{conversation.summary or '(none)'}\n\nNew messages:\n{transcript}"
        )
        result = _background_call(
            conversation, kind=UsageKind.SUMMARY, instructions=SUMMARY_INSTRUCTIONS, prompt=prompt,
            max_tokens=settings.SUMMARY_MAX_TOKENS,
        )  # fmt: skip
        if result is None:
            return start
        if _store_summary(conversation_id, start, batch_end, result.text.strip()) != batch_end:
            return batch_end  # another summary landed meanwhile; it carries on from there


def _summary_batch(conversation: Conversation, through_seq: int) -> tuple[str, int]:
    """The oldest unsummarised messages that fit the summary model's window, and the last seq taken.

    A backlog (summaries refused for a while) is folded in several calls, never joined into one
    prompt the model would refuse; a single message longer than the window is cut to fit.
    """
    spec = get_model(summary_model(conversation))
    budget = spec.context_window - settings.SUMMARY_MAX_TOKENS - conversation.summary_tokens - SUMMARY_FRAMING_TOKENS
    budget = max(budget, SUMMARY_FRAMING_TOKENS)
    rows = Message.objects.filter(
        conversation=conversation, seq__gt=conversation.summary_through_seq, seq__lte=through_seq,
        status__in=IN_CONTEXT,
    ).order_by("seq")  # fmt: skip
    last, used = through_seq, 0
    for seq, tokens in rows.values_list("seq", "token_count").iterator():
        if used and used + tokens > budget:
            last = seq - 1
            break
        used += tokens
    lines = [
        f"{m.role}: {truncate_text(m.content, budget, spec.encoding) if used > budget else m.content}"
        for m in rows.filter(seq__lte=last)
    ]
    return "\n".join(lines), last


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
def run_replay(*, replay_id: str, org_id: str) -> str:
    """A replay before approval, item by item (conversations/replays/runner.py)."""
    return runner.run(replay_id=replay_id, org_id=org_id)


@shared_task
def sweep_stalled_replays() -> int:
    """Replays whose worker vanished run again from their first pending item (runner.sweep_stalled)."""
    return runner.sweep_stalled(run_task=run_replay)


@shared_task
def sweep_abandoned_streams() -> int:
    """Answers whose worker vanished (no flush for a while) become `interrupted`, keeping their text."""
    return services.interrupt_abandoned_answers()


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

    It counts against the conversation owner's and the organisation's token and cost limits, not
    their requests per minute. A refusal only means the summary waits: until one lands, the context
    planner simply truncates.
    """
    spec = get_model(summary_model(conversation))
    # Reserve what the model may really write: the model's and the organisation's ceilings apply.
    max_tokens = controls_for(conversation.org.settings).answer_limit(spec, max_tokens)
    messages = [{"role": "system", "content": instructions}, {"role": "user", "content": prompt}]
    prompt_tokens = sum(count_message(m["role"], m["content"], spec.encoding) for m in messages)
    membership = Membership.objects.filter(org_id=conversation.org_id, user_id=conversation.user_id).first()
    if membership is None:  # the owner has left the organisation: nothing more is spent on their behalf
        return None
    membership.org = conversation.org
    try:
        call = metered.admit(
            membership=membership,
            kind=kind,
            spec=spec,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            messages=messages,
            conversation_id=conversation.pk,
            background=True,
        )
    except DomainError as error:
        logger.warning("%s of conversation %s refused: %s", kind, conversation.pk, error.code)
        return None
    try:
        result = async_to_sync(metered.complete)(call)
        _finish(call, prompt, result)
    except DomainError as error:
        logger.warning("%s of conversation %s failed: %s", kind, conversation.pk, error.code)
        return None
    finally:
        metered.release(call)  # a no-op once finished: any other ending gives the hold back
    return result


def _finish(call: metered.MeteredCall, prompt: str, result: gateway.StreamResult) -> None:
    """Background rows count the prompt text alone, in the answering model's encoding, and no cache."""
    encoding = get_model(result.model).encoding
    metered.finish(
        call,
        status=result.status,
        completion_tokens=count_text(result.text, encoding),
        result=result,
        prompt_tokens=count_text(prompt, encoding),
        cached_tokens=0,
    )
