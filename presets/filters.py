"""List filters for presets (django-filter)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField

from presets.models import Preset, Scope, Status


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant, sent to the database in UTC.

    Python accepts offsets up to ±23:59 and PostgreSQL only to ±15:59: `…T10:40:33-19:42` passed
    on as written was a DataError (a 500). In UTC any offset is fine; an instant outside the years
    1-9999 once in UTC is a 400.
    """

    def to_python(self, value: Any) -> datetime | None:
        if value == "":  # forms read a blank as "no filter"; an API query naming the filter names an instant
            raise ValidationError("Enter a date and time.", code="invalid")
        instant = super().to_python(value)
        if instant is None:
            return None
        try:
            return instant.astimezone(UTC)
        except OverflowError as error:
            raise ValidationError("Enter a date and time between the years 1 and 9999.", code="invalid") from error


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


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
