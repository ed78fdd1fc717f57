"""List filter pieces shared by every app's django-filter FilterSets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


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
