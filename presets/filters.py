"""List filters for presets (django-filter)."""

from __future__ import annotations

import django_filters
from django.db import connection
from django.db.models import QuerySet

from chatpresets.filters import UtcIsoDateTimeFilter
from presets.models import Preset, Scope, Status


class PresetFilter(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(choices=Scope.choices)
    status = django_filters.ChoiceFilter(choices=Status.choices)
    model = django_filters.CharFilter(field_name="model")
    owner = django_filters.CharFilter(field_name="owner__username")
    team = django_filters.CharFilter(field_name="team__slug")
    tag = django_filters.CharFilter(method="filter_tag")
    updated_after = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    ordering = django_filters.OrderingFilter(
        fields=(("name", "name"), ("updated_at", "updated_at"), ("created_at", "created_at"), ("rank", "rank"))
    )

    class Meta:
        model = Preset
        fields = ["scope", "status", "model", "owner", "team", "tag", "updated_after"]

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        return queryset.filter(tags__icontains=f'"{value}"')
