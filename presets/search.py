"""Full-text search over presets: PostgreSQL tsvector (ranked), or a substring match on SQLite."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import BooleanField, FloatField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL

TSQUERY = "websearch_to_tsquery('english', %s)"
VECTOR = '"presets_preset"."search_vector"'
# websearch_to_tsquery reads `fp-bad-d6831a` as "fp" NOT "bad"...: a slug or a name typed whole is
# matched as it is too. The exact matches are one uncorrelated subquery over the expression indexes
# preset_lower_slug / preset_lower_name, so PostgreSQL runs it once (an InitPlan) and each candidate
# row only tests `id = ANY(a tiny array)`: lower() per row cost a common word 20-25% more.
# EXACT_BONUS puts such matches above any ts_rank (at most 1).
EXACT_IDS = (
    'ARRAY(SELECT "exact"."id" FROM "presets_preset" AS "exact" '
    'WHERE lower("exact"."slug") = lower(%s) OR lower("exact"."name") = lower(%s))'
)
EXACT = f'"presets_preset"."id" = ANY({EXACT_IDS})'
EXACT_BONUS = 10.0


def search(queryset: QuerySet, text: str) -> QuerySet:
    """Presets matching `text`, annotated with `rank` (higher is better)."""
    text = text.strip()[:200]
    if not text:
        return queryset.annotate(rank=Value(0.0, output_field=FloatField()))
    if connection.vendor == "postgresql":
        # The SQL is constant; the user's text only ever travels as a bound parameter.
        matches = RawSQL(f"({VECTOR} @@ {TSQUERY} OR {EXACT})", [text] * 3, output_field=BooleanField())  # noqa: S611
        rank = RawSQL(  # noqa: S611
            f"ts_rank({VECTOR}, {TSQUERY}) + CASE WHEN {EXACT} THEN {EXACT_BONUS} ELSE 0 END",
            [text] * 3,
            output_field=FloatField(),
        )
        return queryset.alias(matches=matches).filter(matches=True).annotate(rank=rank)
    words = Q(slug__iexact=text) | Q(name__iexact=text)
    every_word = Q()
    for word in text.split():
        every_word &= (
            Q(name__icontains=word)
            | Q(description__icontains=word)
            | Q(system_prompt__icontains=word)
            | Q(tags__icontains=word)
        )
    return queryset.filter(words | every_word).annotate(rank=Value(0.0, output_field=FloatField()))


def ranked_page(queryset: QuerySet, *, offset: int, limit: int) -> tuple[list[Any], int]:
    """One page of a `search()` queryset, best rank first, and the number of matches, in one pass.

    A separate COUNT would read every visible match a second time. Here an inner query computes
    (id, rank, updated_at) per match behind an `OFFSET 0` fence, so the window count and the
    top-N sort keep only those narrow rows, not the matches' whole tsvectors; then only the page's
    rows are loaded in full.
    """
    inner_sql, params = queryset.order_by().values("pk", "rank", "updated_at").query.sql_with_params()
    sql = (
        f"SELECT ranked.pk, count(*) OVER () FROM ({inner_sql} OFFSET 0) AS ranked "  # noqa: S608 (compiled by the ORM)
        "ORDER BY ranked.rank DESC, ranked.updated_at DESC, ranked.pk LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        rows = cursor.fetchall()
    if not rows:
        return [], queryset.count() if offset else 0
    by_id = queryset.order_by().in_bulk([row[0] for row in rows])
    return [by_id[row[0]] for row in rows], rows[0][1]
