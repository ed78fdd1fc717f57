"""The generated OpenAPI schema, and the operation a concrete request URL falls under."""

from __future__ import annotations

import functools
import re
from typing import Any

from drf_spectacular.generators import SchemaGenerator


@functools.cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    # Schema paths hold only letters, digits, `/`, `-`, `_` and `{parameters}`: nothing to escape.
    return [(re.compile(re.sub(r"\{[^}/]+\}", "[^/]+", path)), path) for path in schema()["paths"]]


def operation(url: str, method: str) -> dict[str, Any]:
    """The schema's operation for a concrete URL (query string ignored) and method; KeyError if none."""
    path = url.split("?", 1)[0]
    matches = [template for pattern, template in _templates() if pattern.fullmatch(path)]
    if not matches:
        raise KeyError(f"{method.upper()} {path} is not in the schema")
    # A literal segment beats a parameter (`/presets/trash/` over `/presets/{id}/`).
    template = min(matches, key=lambda t: t.count("{"))
    return schema()["paths"][template][method.lower()]


def documented_statuses(url: str, method: str) -> set[int]:
    return {int(status) for status in operation(url, method)["responses"]}
