"""Writes for replays and prompt sets: who may start and cancel a replay, its budget, and the audit.

Only someone who may review the preset (presets.services.review.may_review) starts or cancels a
replay, on a version pending review, against the preset's approved version. The run itself is a
task (runner.py) handed over after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import services as audit
from chatpresets.background import enqueue
from chatpresets.errors import AlreadyExists, Forbidden, InvalidInput, InvalidState
from conversations.replays import sources
from conversations.replays.models import (
    MAX_ITEMS,
    MAX_PROMPT_CHARS,
    ItemStatus,
    PromptSet,
    Replay,
    ReplayItem,
    ReplaySource,
    ReplayStatus,
)
from conversations.tasks import run_replay
from presets.models import Preset, PresetVersion, Status
from presets.selectors import Access, preset_access
from presets.services.review import may_review
from tenancy.models import Membership, User


class NotInReview(InvalidState):
    code = "version_not_in_review"
    message = "Only a version pending review is replayed."


class NoApprovedVersion(InvalidState):
    code = "no_approved_version"
    message = "This preset has no approved version to compare with."


class NothingToReplay(InvalidInput):
    code = "nothing_to_replay"
    message = "There are no user turns or prompts to replay."


class BudgetAboveLimit(InvalidInput):
    code = "budget_above_limit"
    message = "The token budget is above what a replay may spend here."


class ReplayFinished(InvalidState):
    code = "replay_finished"
    message = "This replay has already ended."


def require_reviewer(*, preset: Preset, actor: User) -> None:
    if not may_review(preset=preset, user=actor):
        raise Forbidden("Replays are for those who may review this preset.")


def budget_limit(*, org_settings: dict[str, Any]) -> int:
    """The operator's REPLAY_MAX_TOKEN_BUDGET, or the organisation's lower `replay_max_token_budget`."""
    own = org_settings.get("replay_max_token_budget")
    return min(settings.REPLAY_MAX_TOKEN_BUDGET, own) if own else settings.REPLAY_MAX_TOKEN_BUDGET


def _items(preset: Preset, source: str, turns: int, conversation_ids: Sequence[Any], prompt_set: Any) -> list:
    if source == ReplaySource.RECENT:
        return sources.recent_turns(preset=preset, limit=turns)
    if source == ReplaySource.CONVERSATIONS:
        return sources.conversation_turns(org=preset.org, conversation_ids=conversation_ids)
    return sources.prompt_set_items(prompt_set)


def _replayable_version(preset: Preset, actor: User, version: int | None, token_budget: int) -> int:
    """The version to replay, once the actor may review it, it is in review, and the budget is allowed."""
    require_reviewer(preset=preset, actor=actor)
    number = version or preset.version
    if not PresetVersion.objects.filter(preset=preset, number=number, status=Status.PENDING_REVIEW).exists():
        raise NotInReview(details={"version": number})
    if preset.approved_version is None:
        raise NoApprovedVersion()
    limit = budget_limit(org_settings=preset.org.settings)
    if token_budget > limit:
        raise BudgetAboveLimit(details={"field": "token_budget", "max": limit})
    return number


@transaction.atomic
def replay_start(
    *,
    preset: Preset,
    actor: User,
    token_budget: int,
    source: str = ReplaySource.RECENT,
    version: int | None = None,
    turns: int = 20,
    conversations: Sequence[Any] = (),
    prompt_set: Any = None,
    api_key_id: Any = None,
) -> Replay:
    """Queue a replay of `version` (default: the newest) against the approved version; audited."""
    number = _replayable_version(preset, actor, version, token_budget)
    chosen = (
        sources.prompt_set_of(preset=preset, prompt_set_id=prompt_set) if source == ReplaySource.PROMPT_SET else None
    )
    found = _items(preset, source, turns, conversations, chosen)
    if not found:
        raise NothingToReplay()
    replay = Replay.objects.create(
        org=preset.org,
        preset=preset,
        candidate_version=number,
        baseline_version=preset.approved_version,
        source=source,
        prompt_set=chosen,
        token_budget=token_budget,
        started_by=actor,
        api_key_id=api_key_id,
    )
    ReplayItem.objects.bulk_create(
        ReplayItem(org=preset.org, replay=replay, position=index, source_message=item.message, user_text=item.text)
        for index, item in enumerate(found, start=1)
    )
    payload = {
        "preset": str(preset.pk),
        "candidate_version": number,
        "baseline_version": replay.baseline_version,
        "source": source,
        "items": len(found),
        "token_budget": token_budget,
    }
    audit.record(org=preset.org, actor=actor, action="replay.started", target=replay, payload=payload)
    enqueue(run_replay, replay_id=str(replay.pk), org_id=str(preset.org_id))
    return replay


@transaction.atomic
def replay_cancel(*, replay: Replay, actor: User) -> Replay:
    """Stop a queued or running replay: items not yet run are skipped; the item running finishes."""
    require_reviewer(preset=replay.preset, actor=actor)
    replay = Replay.objects.select_for_update().select_related("preset", "org").get(pk=replay.pk)
    if not replay.unfinished:
        raise ReplayFinished(details={"status": replay.status})
    replay.status, replay.finished_at = ReplayStatus.CANCELLED, timezone.now()
    replay.save(update_fields=["status", "finished_at"])
    replay.items.filter(status=ItemStatus.PENDING).update(status=ItemStatus.SKIPPED, skip_reason="cancelled")
    audit.record(org=replay.org, actor=actor, action="replay.cancelled", target=replay, payload={})
    return replay


def may_edit_prompt_sets(*, preset: Preset, membership: Membership) -> bool:
    """Editors of the preset and its reviewers keep its prompt sets."""
    return preset_access(preset=preset, membership=membership) >= Access.EDIT or may_review(
        preset=preset, user=membership.user
    )


def _checked_prompts(prompts: Any) -> list[str]:
    if not isinstance(prompts, list) or not 1 <= len(prompts) <= MAX_ITEMS:
        raise InvalidInput(f"A prompt set holds 1 to {MAX_ITEMS} prompts.", details={"field": "prompts"})
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS or "\x00" in prompt:
            raise InvalidInput(
                f"Each prompt is 1 to {MAX_PROMPT_CHARS} characters of text.",
                details={"field": "prompts", "index": index},
            )
    return prompts


def _saved(prompt_set: PromptSet) -> PromptSet:
    try:
        with transaction.atomic():
            prompt_set.full_clean(exclude=["org", "preset", "prompts"], validate_unique=False)
            prompt_set.save()
    except IntegrityError:
        raise AlreadyExists("This preset already has a prompt set of that name.", details={"field": "name"}) from None
    return prompt_set


@transaction.atomic
def prompt_set_create(*, preset: Preset, actor: User, name: str, prompts: list[str]) -> PromptSet:
    prompt_set = _saved(
        PromptSet(org=preset.org, preset=preset, name=name, prompts=_checked_prompts(prompts), created_by=actor)
    )
    payload = {"preset": str(preset.pk), "name": name, "prompts": len(prompts)}
    audit.record(org=preset.org, actor=actor, action="prompt_set.created", target=prompt_set, payload=payload)
    return prompt_set


@transaction.atomic
def prompt_set_update(*, prompt_set: PromptSet, actor: User, **changes: Any) -> PromptSet:
    """Rename or replace the prompts; an edit that changes nothing records nothing."""
    if "prompts" in changes:
        changes["prompts"] = _checked_prompts(changes["prompts"])
    before = {"name": prompt_set.name, "prompts": len(prompt_set.prompts)}
    changed = {name: value for name, value in changes.items() if getattr(prompt_set, name) != value}
    if not changed:
        return prompt_set
    for name, value in changed.items():
        setattr(prompt_set, name, value)
    _saved(prompt_set)
    after = {"name": prompt_set.name, "prompts": len(prompt_set.prompts)}
    payload = {"changes": audit.changes(before, after), "prompts_replaced": "prompts" in changed}
    audit.record(org=prompt_set.org, actor=actor, action="prompt_set.updated", target=prompt_set, payload=payload)
    return prompt_set


@transaction.atomic
def prompt_set_delete(*, prompt_set: PromptSet, actor: User) -> None:
    payload = {"preset": str(prompt_set.preset_id), "name": prompt_set.name}
    audit.record(org=prompt_set.org, actor=actor, action="prompt_set.deleted", target=prompt_set, payload=payload)
    prompt_set.delete()
