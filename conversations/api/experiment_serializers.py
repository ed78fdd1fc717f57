"""Shapes of experiments in the API: what is read, what a writer sends."""

from __future__ import annotations

from rest_framework import serializers

from presets.experiments.models import Experiment, ExperimentVariant, Metric, Unit


class VariantSerializer(serializers.ModelSerializer):
    preset = serializers.UUIDField(source="preset_id", read_only=True)

    class Meta:
        model = ExperimentVariant
        fields = ["name", "preset", "version", "weight"]
        read_only_fields = fields


class ExperimentSerializer(serializers.ModelSerializer):
    preset = serializers.UUIDField(source="preset_id", read_only=True)
    label = serializers.CharField(read_only=True, help_text="The label slot; empty: the preset's default traffic")
    variants = VariantSerializer(many=True, read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "id",
            "name",
            "preset",
            "label",
            "traffic_share",
            "unit",
            "primary_metric",
            "guardrail_metrics",
            "status",
            "promoted_variant",
            "variants",
            "created_at",
            "started_at",
            "stopped_at",
        ]
        read_only_fields = fields


class VariantWriteSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=50)
    preset = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="Empty: the experiment's")
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    weight = serializers.IntegerField(min_value=1, max_value=10_000)


def variant_list() -> serializers.ListField:
    """2 to 10 variants; a ListField, so that the schema states the bounds (minItems, maxItems)."""
    return serializers.ListField(child=VariantWriteSerializer(), min_length=2, max_length=10)


class ExperimentWriteSerializer(serializers.Serializer):
    """The organisation, creator and status are never read from the body: the service sets them."""

    name = serializers.CharField(max_length=200)
    preset = serializers.UUIDField()
    # A slug or nothing (the preset's default traffic); a SlugField's schema pattern refused the empty default.
    label = serializers.RegexField(r"^[-a-zA-Z0-9_]*$", max_length=50, required=False, allow_blank=True, default="")
    traffic_share = serializers.FloatField(min_value=0.0, max_value=1.0, required=False, default=1.0)
    unit = serializers.ChoiceField(choices=Unit.choices, required=False, default=Unit.USER)
    primary_metric = serializers.ChoiceField(choices=Metric.choices, required=False, default=Metric.THUMBS_UP_RATE)
    guardrail_metrics = serializers.ListField(
        child=serializers.ChoiceField(choices=Metric.choices), required=False, default=list, max_length=len(Metric)
    )
    variants = variant_list()


class VariantsSerializer(serializers.Serializer):
    """A PATCH's variants read whole (not partially): they replace the draft's variants."""

    variants = variant_list()


class ExperimentUpdateSerializer(ExperimentWriteSerializer):
    """A PATCH: the preset never changes (start a new experiment on another one)."""

    preset = None  # read with partial=True: only what the body names changes


class PromoteSerializer(serializers.Serializer):
    variant = serializers.SlugField(max_length=50, help_text="The variant whose version takes the slot's label")
