"""A unified diff of two prompts whose cost stays bounded whatever the prompts hold.

difflib's matcher is fast on ordinary edits but not on adversarial text: two 100,000-character
prompts made of short repeating lines took 226 s for one diff. Lines both versions share at the
start and end are matched directly; when what is left between them is still longer than
DIFF_MAX_LINES on either side, that middle is shown as removed and added as a whole (a correct
unified diff, only not a minimal one) instead of being searched.
"""

from __future__ import annotations

import difflib

DIFF_MAX_LINES = 2_000  # difflib's worst case at this size is well under 0.1 s
CONTEXT = 3
Opcode = tuple[str, int, int, int, int]


class _Planned(difflib.SequenceMatcher):
    """A matcher whose opcodes are given, so difflib's grouping into hunks is reused as is."""

    def __init__(self, opcodes: list[Opcode]) -> None:
        super().__init__(None, [], [])
        self.opcodes = opcodes


def _common_ends(older: list[str], newer: list[str]) -> tuple[int, int]:
    prefix, most = 0, min(len(older), len(newer))
    while prefix < most and older[prefix] == newer[prefix]:
        prefix += 1
    suffix = 0
    while suffix < most - prefix and older[-1 - suffix] == newer[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def _opcodes(older: list[str], newer: list[str]) -> list[Opcode]:
    prefix, suffix = _common_ends(older, newer)
    old_end, new_end = len(older) - suffix, len(newer) - suffix
    middle_old, middle_new = older[prefix:old_end], newer[prefix:new_end]
    if max(len(middle_old), len(middle_new)) <= DIFF_MAX_LINES:
        middle = [
            (tag, i1 + prefix, i2 + prefix, j1 + prefix, j2 + prefix)
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, middle_old, middle_new).get_opcodes()
        ]
    else:
        middle = [("replace", prefix, old_end, prefix, new_end)]
    codes = [("equal", 0, prefix, 0, prefix)] if prefix else []
    codes += [code for code in middle if code[1] != code[2] or code[3] != code[4]]
    if suffix:
        codes.append(("equal", old_end, len(older), new_end, len(newer)))
    return codes


def _range(start: int, stop: int) -> str:
    """A hunk range as `diff -u` writes it (difflib's own formatter is private)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def unified_diff(older: str, newer: str, *, older_label: str, newer_label: str) -> str:
    a, b = older.splitlines(), newer.splitlines()
    if a == b:
        return ""
    lines = [f"--- {older_label}", f"+++ {newer_label}"]
    for group in _Planned(_opcodes(a, b)).get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        lines.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [f" {line}" for line in a[i1:i2]]
                continue
            lines += [f"-{line}" for line in a[i1:i2]]
            lines += [f"+{line}" for line in b[j1:j2]]
    return "\n".join(lines)
