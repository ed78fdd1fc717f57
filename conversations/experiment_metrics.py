"""What each variant of an experiment measured, read from the conversations that joined it.

Three grouped queries (units, answers, votes), each filtered by the experiment first, so the cost
follows the experiment's own traffic, not the size of the message table. Rates count answers (or
votes, for thumbs up); means are per completed answer. Unfinished answers are not counted yet. Turns,
errors and regenerations are defined as in the preset's analytics.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Avg, Count, F, Q, StdDev, Sum
from django.db.models.functions import Coalesce

from conversations.analytics import ERRORS, FINISHED
from conversations.models import Conversation, Feedback, Message, MessageStatus, Role, TurnKind, Vote
from presets.experiments.models import Experiment, Metric, Unit
from presets.experiments.services import min_sample
from presets.experiments.statistics import MeanSample, RateSample, VariantData, analyse

COMPLETE = Q(status=MessageStatus.COMPLETE)
CONTINUOUS = {
    Metric.TOKENS_PER_TURN: (F("prompt_tokens") + F("completion_tokens"), COMPLETE),
    Metric.COST_PER_TURN: (F("cost"), COMPLETE),
    Metric.TTFT_MS: (F("ttft_ms"), COMPLETE & Q(ttft_ms__isnull=False)),
}


def experiment_results(*, experiment: Experiment) -> dict[str, Any]:
    """Per variant: units, counts, each metric with its 95% interval; the primary metric's test,
    the verdict (none below the minimum sample) and the sample-ratio check."""
    data, counts = experiment_counts(experiment=experiment)
    found = analyse(
        variants=data,
        primary=experiment.primary_metric,
        guardrails=experiment.guardrail_metrics,
        min_sample=min_sample(),
    )
    for row in found["variants"]:
        row["counts"] = counts[row["name"]]
    return found


def experiment_counts(*, experiment: Experiment) -> tuple[list[VariantData], dict[str, dict[str, Any]]]:
    """Per variant (control first): the samples statistics.analyse reads, and the raw counts shown."""
    units = _units(experiment)
    answers = _answers(experiment)
    votes = _votes(experiment)
    data, counts = [], {}
    for variant in experiment.variants.order_by("position"):
        mine = answers.get(variant.pk, {})
        up, down = votes.get(variant.pk, (0, 0))
        turns = mine.get("turns", 0)
        samples: dict[str, Any] = {
            Metric.THUMBS_UP_RATE: RateSample(successes=up, trials=up + down),
            Metric.REGENERATE_RATE: RateSample(successes=mine.get("regenerates", 0), trials=turns),
            Metric.ERROR_RATE: RateSample(successes=mine.get("errors", 0), trials=turns),
        }
        for metric in CONTINUOUS:
            samples[metric] = MeanSample(
                n=mine.get(f"{metric}_n", 0),
                mean=float(mine.get(f"{metric}_mean") or 0),
                sd=float(mine.get(f"{metric}_sd") or 0),
            )
        unit_count, conversations = units.get(variant.pk, (0, 0))
        data.append(VariantData(name=variant.name, weight=variant.weight, units=unit_count, samples=samples))
        counts[variant.name] = {
            "units": unit_count,
            "conversations": conversations,
            "turns": turns,
            "thumbs_up": up,
            "thumbs_down": down,
            "regenerates": mine.get("regenerates", 0),
            "errors": mine.get("errors", 0),
            "tokens": int(mine.get("tokens_sum") or 0),
            "cost": str(mine.get("cost_sum") or 0),
        }
    return data, counts


def _units(experiment: Experiment) -> dict[Any, tuple[int, int]]:
    """Assigned units (people or conversations, as the experiment counts) and conversations per variant."""
    unit = Count("user", distinct=True) if experiment.unit == Unit.USER else Count("id")
    rows = (
        Conversation.objects.for_org(experiment.org)
        .filter(experiment=experiment, experiment_variant__isnull=False)
        .values("experiment_variant")
        .annotate(units=unit, conversations=Count("id"))
    )
    return {row["experiment_variant"]: (row["units"], row["conversations"]) for row in rows}


def _answers(experiment: Experiment) -> dict[Any, dict[str, Any]]:
    aggregates: dict[str, Any] = {
        "turns": Count("id"),
        # As the preset's analytics count them (conversations/analytics.py), so both pages agree.
        "errors": Count("id", filter=Q(status__in=ERRORS)),
        "regenerates": Count("id", filter=Q(turn_kind=TurnKind.REGENERATE)),
        "tokens_sum": Coalesce(Sum(F("prompt_tokens") + F("completion_tokens")), 0),
        "cost_sum": Sum("cost"),  # not "cost": an annotation may not shadow the column the means read
    }
    for metric, (value, where) in CONTINUOUS.items():
        aggregates[f"{metric}_n"] = Count("id", filter=where)
        aggregates[f"{metric}_mean"] = Avg(value, filter=where)
        aggregates[f"{metric}_sd"] = StdDev(value, filter=where, sample=True)
    rows = (
        Message.objects.for_org(experiment.org)
        .filter(conversation__experiment=experiment, role=Role.ASSISTANT, status__in=FINISHED)
        .values("conversation__experiment_variant")
        .annotate(**aggregates)
    )
    return {row.pop("conversation__experiment_variant"): row for row in rows}


def _votes(experiment: Experiment) -> dict[Any, tuple[int, int]]:
    rows = (
        Feedback.objects.for_org(experiment.org)
        .filter(message__conversation__experiment=experiment)
        .values("message__conversation__experiment_variant")
        .annotate(up=Count("id", filter=Q(vote=Vote.UP)), down=Count("id", filter=Q(vote=Vote.DOWN)))
    )
    return {row["message__conversation__experiment_variant"]: (row["up"], row["down"]) for row in rows}
