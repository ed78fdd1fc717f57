"""Full-text search over presets: PostgreSQL tsvector (ranked), or a substring match on SQLite."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, FloatField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL

TSQUERY = "websearch_to_tsquery('english', %s)"
VECTOR = '"presets_preset"."search_vector"'


def search(queryset: QuerySet, text: str) -> QuerySet:
    """Presets matching `text`, annotated with `rank` (higher is better)."""
    text = text.strip()[:200]
    if not text:
        return queryset.annotate(rank=Value(0.0, output_field=FloatField()))
    if connection.vendor == "postgresql":
        # The SQL is constant; the user's text only ever travels as a bound parameter.
        matches = RawSQL(f"{VECTOR} @@ {TSQUERY}", [text], output_field=BooleanField())  # noqa: S611
        rank = RawSQL(f"ts_rank({VECTOR}, {TSQUERY})", [text], output_field=FloatField())  # noqa: S611
        return queryset.alias(matches=matches).filter(matches=True).annotate(rank=rank)
    words = Q()
    for word in text.split():
        words &= (
            Q(name__icontains=word)
            | Q(description__icontains=word)
            | Q(system_prompt__icontains=word)
            | Q(tags__icontains=word)
        )
    return queryset.filter(words).annotate(rank=Value(0.0, output_field=FloatField()))
