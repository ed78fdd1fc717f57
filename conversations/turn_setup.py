"""Setting up one turn: which preset version, model, limits and PII mode apply, the context plan, the
messages the model receives, and admission (the turn's metered call).

Everything here runs inside the transport's one thread hop, before anything of the turn is stored.
The context inspector calls the same functions (without a new message), so it shows what a turn sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chatpresets.errors import NotFound
from chatpresets.llm.catalogue import ModelSpec, default_model
from chatpresets.llm.cost_controls import CostControls, controls_for
from chatpresets.llm.pii.policy import Screening, screening_for
from chatpresets.observability.timing import stage
from conversations import metered
from conversations.context import ContextPlan, plan_context
from conversations.models import Conversation, UsageKind
from conversations.selectors import history_loader, history_reader
from presets.resolve import ResolvedPreset, resolve_for_conversation
from tenancy.metering import guardrails
from tenancy.models import Membership


@dataclass
class TurnSettings:
    resolved: ResolvedPreset | None
    spec: ModelSpec
    params: dict[str, Any]
    max_tokens: int
    controls: CostControls
    screening: Screening  # the PII mode, continuing the conversation's vault


@dataclass(frozen=True)
class PromptFinding:
    """A placeholder the PII screening put in the prompt: `messages[part]["content"][start:end]`."""

    part: int
    seq: int | None
    type: str
    placeholder: str
    start: int
    end: int


@dataclass
class ModelPrompt:
    messages: list[dict[str, str]]
    findings: list[PromptFinding]


def resolved_preset(conversation: Conversation, membership: Membership) -> ResolvedPreset | None:
    if conversation.preset_id is None:
        if conversation.preset_via:  # another organisation purged it: not a silent switch to no preset
            raise NotFound("The preset of this conversation no longer exists; apply another one.")
        return None
    return resolve_for_conversation(
        membership=membership,
        preset_id=conversation.preset_id,
        version=conversation.preset_version,
        values=conversation.variables,
        existing=True,
        via=conversation.preset_via,
        link_id=conversation.preset_link_id,
        label=conversation.preset_label,
    )


def turn_settings(conversation: Conversation, membership: Membership) -> TurnSettings:
    """The preset version, model and parameters the next turn uses, within the organisation's controls."""
    resolved = resolved_preset(conversation, membership)
    controls = controls_for(membership.org.settings)
    spec = controls.model(conversation.model_override or (resolved.model if resolved else default_model()))
    params = {**(resolved.params if resolved else {}), **conversation.params_override}
    screening = screening_for(
        org_settings=membership.org.settings,
        preset_policy=resolved.policy if resolved else None,
        stored=conversation.pii_vault,
    )
    return TurnSettings(
        resolved, spec, params, controls.answer_limit(spec, params.get("max_tokens")), controls, screening
    )


def model_prompt(plan: ContextPlan, screening: Screening) -> ModelPrompt:
    """The messages a model call sends for `plan`: every transport's turn and the context inspector.

    Everything but the system prompt (the preset's text, not the user's) passes the screening, the
    running summary included; values are numbered in prompt order through the conversation's vault.
    """
    messages: list[dict[str, str]] = []
    findings: list[PromptFinding] = []
    for index, part in enumerate(plan.parts):
        redaction = screening.redact(part.content) if part.kind != "system" else None
        if redaction is None:
            messages.append(part.as_message())
            continue
        messages.append({"role": part.role, "content": redaction.text})
        findings += [
            PromptFinding(index, part.seq, placed.type, placed.placeholder, placed.start, placed.end)
            for placed in redaction.placements
        ]
    return ModelPrompt(messages, findings)


def plan_turn(
    conversation: Conversation, turn: TurnSettings, *, new_message: str | None, before_seq: int | None = None
) -> ContextPlan:
    preset_limit = turn.resolved.policy.get("max_context_tokens") if turn.resolved else None
    with stage("context"):  # history read and prompt fitted: the turn's `context` time
        return plan_context(
            context_window=turn.controls.context_window(turn.spec, preset_limit),
            reserved_output=turn.max_tokens,
            encoding=turn.spec.encoding,
            system_prompt=turn.resolved.system_prompt if turn.resolved else settings.DEFAULT_SYSTEM_PROMPT,
            summary=conversation.summary,
            summarised_through=conversation.summary_through_seq,
            history_newest_first=history_reader(conversation, before_seq),
            load_from=history_loader(conversation, before_seq),
            new_message=new_message,
        )


def plan_and_admit(
    conversation: Conversation,
    membership: Membership,
    turn: TurnSettings,
    *,
    api_key_id: Any,
    new_message: str | None,
    before_seq: int | None = None,
) -> tuple[ContextPlan, metered.MeteredCall]:
    """Plan the prompt and admit the turn's model call; over a cost budget, the organisation may downgrade.

    A downgrade changes `turn` in place (model, answer limit), so the stored answer names the model
    that really ran. The call's messages and answer id are filled in once the turn is stored.
    """
    plan = plan_turn(conversation, turn, new_message=new_message, before_seq=before_seq)
    try:
        return plan, _admit(conversation, membership, turn, plan, api_key_id)
    except guardrails.BudgetExceeded:
        cheaper = turn.controls.downgrade()
        if cheaper is None or cheaper.name == turn.spec.name:
            raise
    turn.spec, turn.max_tokens = cheaper, turn.controls.answer_limit(cheaper, turn.params.get("max_tokens"))
    plan = plan_turn(conversation, turn, new_message=new_message, before_seq=before_seq)
    return plan, _admit(conversation, membership, turn, plan, api_key_id)


def _admit(
    conversation: Conversation, membership: Membership, turn: TurnSettings, plan: ContextPlan, api_key_id: Any
) -> metered.MeteredCall:
    policy = turn.resolved.policy if turn.resolved else None
    return metered.admit(
        membership=membership,
        kind=UsageKind.CHAT,
        spec=turn.spec,
        prompt_tokens=plan.used,
        max_tokens=turn.max_tokens,
        params=turn.params,
        fallbacks=turn.controls.fallbacks(turn.spec, policy),
        api_key_id=api_key_id,
        preset_id=conversation.preset_id,
        preset_version=turn.resolved.version if turn.resolved else None,
        preset_policy=policy,
        conversation_id=conversation.pk,
    )
