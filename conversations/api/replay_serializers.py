"""Shapes of replays and prompt sets in the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations.replays.models import MAX_ITEMS, MAX_PROMPT_CHARS, PromptSet, Replay, ReplayItem, ReplaySource
from conversations.replays.selectors import item_difference, replay_totals
from tenancy.org_settings import MAX_TOKENS_CEILING

ANSWER_FIELDS = ["model", "answer", "prompt_tokens", "completion_tokens", "cost", "ttft_ms", "total_ms", "error"]


class AnswerSerializer(serializers.Serializer):
    model = serializers.CharField()
    answer = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=8)
    ttft_ms = serializers.IntegerField(allow_null=True)
    total_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(help_text="The error code of this side's call; empty when it answered")


class DifferenceSerializer(serializers.Serializer):
    """Candidate minus baseline."""

    tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=8)
    ttft_ms = serializers.FloatField(allow_null=True)
    total_ms = serializers.FloatField(allow_null=True)


class ReplayItemSerializer(serializers.ModelSerializer):
    source_message = serializers.UUIDField(source="source_message_id", read_only=True, allow_null=True)
    baseline = serializers.SerializerMethodField()
    candidate = serializers.SerializerMethodField()
    difference = serializers.SerializerMethodField()

    class Meta:
        model = ReplayItem
        fields = [
            "position",
            "source_message",
            "user_text",
            "status",
            "skip_reason",
            "baseline",
            "candidate",
            "difference",
        ]
        read_only_fields = fields

    @extend_schema_field(AnswerSerializer)
    def get_baseline(self, item: ReplayItem) -> dict[str, Any]:
        return _side(item, "baseline")

    @extend_schema_field(AnswerSerializer)
    def get_candidate(self, item: ReplayItem) -> dict[str, Any]:
        return _side(item, "candidate")

    @extend_schema_field(DifferenceSerializer(allow_null=True))
    def get_difference(self, item: ReplayItem) -> dict[str, Any] | None:
        found = item_difference(item)
        return DifferenceSerializer(found).data if found is not None else None


def _side(item: ReplayItem, side: str) -> dict[str, Any]:
    return AnswerSerializer({field: getattr(item, f"{side}_{field}") for field in ANSWER_FIELDS}).data


class ReplaySerializer(serializers.ModelSerializer):
    preset = serializers.UUIDField(source="preset_id", read_only=True)
    prompt_set = serializers.UUIDField(source="prompt_set_id", read_only=True, allow_null=True)
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Replay
        fields = [
            "id",
            "preset",
            "candidate_version",
            "baseline_version",
            "source",
            "prompt_set",
            "token_budget",
            "tokens_spent",
            "status",
            "error_code",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ReplayDetailSerializer(ReplaySerializer):
    items = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()

    class Meta(ReplaySerializer.Meta):
        fields = [*ReplaySerializer.Meta.fields, "totals", "items"]
        read_only_fields = fields

    @extend_schema_field(ReplayItemSerializer(many=True))
    def get_items(self, replay: Replay) -> list[dict[str, Any]]:
        return ReplayItemSerializer(self._items(replay), many=True).data

    @extend_schema_field(serializers.DictField(help_text="Each side's sums and medians and the differences"))
    def get_totals(self, replay: Replay) -> dict[str, Any]:
        return _plain(replay_totals(self._items(replay)))

    def _items(self, replay: Replay) -> list[ReplayItem]:
        if not hasattr(replay, "_listed_items"):
            replay._listed_items = list(replay.items.order_by("position"))
        return replay._listed_items


def _plain(value: Any) -> Any:
    """Decimals as strings, as every cost in the API is written."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return f"{value:f}" if isinstance(value, Decimal) else value


class ReplayStartSerializer(serializers.Serializer):
    """The organisation, the approver, the baseline and the status are never read from the body."""

    source = serializers.ChoiceField(choices=ReplaySource.choices, default=ReplaySource.RECENT)
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True, default=None,
        help_text="The version in review (default: the newest)",
    )  # fmt: skip
    token_budget = serializers.IntegerField(min_value=1, max_value=MAX_TOKENS_CEILING)
    turns = serializers.IntegerField(
        min_value=1, max_value=MAX_ITEMS, required=False, default=20, help_text="For `recent`: how many turns"
    )
    conversations = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=MAX_ITEMS,
        help_text="For `conversations`: their ids",
    )  # fmt: skip
    prompt_set = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="For `prompt_set`")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["source"] == ReplaySource.CONVERSATIONS and not data["conversations"]:
            raise serializers.ValidationError({"conversations": "Name at least one conversation."})
        if data["source"] == ReplaySource.PROMPT_SET and data["prompt_set"] is None:
            raise serializers.ValidationError({"prompt_set": "Name the prompt set."})
        return data


def prompt_list() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=MAX_PROMPT_CHARS, trim_whitespace=False),
        min_length=1,
        max_length=MAX_ITEMS,
    )


class PromptSetSerializer(serializers.ModelSerializer):
    preset = serializers.UUIDField(source="preset_id", read_only=True)
    prompts = prompt_list()

    class Meta:
        model = PromptSet
        fields = ["id", "preset", "name", "prompts", "created_at", "updated_at"]
        read_only_fields = ["id", "preset", "created_at", "updated_at"]


class PromptSetWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    prompts = prompt_list()
