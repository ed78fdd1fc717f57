"""Markdown for the benches' sections of docs/performance.md: tables and counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A table's lines: the header, its rule and one line a row."""
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(str(value) for value in row) + " |" for row in rows),
    ]


def counts(found: Mapping[str, int]) -> str:
    """`3 x timeout, 1 x 502`, or `none`."""
    return ", ".join(f"{count} x {kind}" for kind, count in found.items()) or "none"


def yes_no(value: bool) -> str:
    return "yes" if value else "no"
