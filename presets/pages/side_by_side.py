"""A unified diff (presets/diff.py, bounded) laid out as two columns: older on the left, newer on the right."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    kind: str  # "same", "changed", "removed", "added" or "hunk"
    left: str | None
    right: str | None


def _pair(removed: list[str], added: list[str]) -> list[Row]:
    rows = []
    for index in range(max(len(removed), len(added))):
        left = removed[index] if index < len(removed) else None
        right = added[index] if index < len(added) else None
        kind = "changed" if left is not None and right is not None else ("removed" if right is None else "added")
        rows.append(Row(kind, left, right))
    return rows


def side_by_side(unified: str) -> list[Row]:
    """Runs of removed lines are paired with the added lines that follow them, line by line."""
    rows: list[Row] = []
    removed: list[str] = []
    added: list[str] = []
    for line in unified.splitlines()[2:]:  # past the --- and +++ headers
        if line.startswith("-"):
            if added:  # a removal after additions starts a new run
                rows += _pair(removed, added)
                removed, added = [], []
            removed.append(line[1:])
            continue
        if line.startswith("+"):
            added.append(line[1:])
            continue
        rows += _pair(removed, added)
        removed, added = [], []
        if line.startswith("@@"):
            rows.append(Row("hunk", line, line))
        else:
            rows.append(Row("same", line[1:], line[1:]))
    return rows + _pair(removed, added)
