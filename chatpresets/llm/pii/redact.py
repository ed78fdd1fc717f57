"""Reversible redaction: entities become `<TYPE_N>` placeholders that a `Vault` maps back.

Invariants:
- Within one vault a (type, value) pair always gets the same placeholder and a placeholder always
  means one value, so a whole conversation history sent to the model stays consistent.
- Numbering is per type and starts at 1 (`<EMAIL_1>`, `<PHONE_NUMBER_2>`); a placeholder is `<`,
  an entity type, `_`, a number and `>`, so it never contains `<` after its first character.
- `restore` and `StreamRestorer` replace only placeholders the vault knows; any other
  placeholder-shaped text passes through unchanged.
- `scrub` is one-way (`<EMAIL>`, no numbers, no vault): for logs, errors and audit payloads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chatpresets.llm.pii.detectors import ENTITY_TYPES, Entity, detect

VAULT_FORMAT = 1
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)_([1-9][0-9]*)>")
_HELD_PREFIX = re.compile(r"<[A-Z0-9_]*\Z")


class Vault:
    """Placeholder → original value for one conversation; stored with it as JSON via `to_dict`."""

    def __init__(self) -> None:
        self._originals: dict[str, str] = {}
        self._placeholders: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}

    def placeholder_for(self, *, entity_type: str, value: str) -> str:
        """The placeholder of this value, allocating the type's next number the first time it is seen."""
        key = (entity_type, value)
        if key not in self._placeholders:
            number = self._counters.get(entity_type, 0) + 1
            self._counters[entity_type] = number
            placeholder = f"<{entity_type}_{number}>"
            self._placeholders[key] = placeholder
            self._originals[placeholder] = value
        return self._placeholders[key]

    def original(self, placeholder: str) -> str | None:
        return self._originals.get(placeholder)

    @property
    def longest_placeholder(self) -> int:
        """Length of the longest placeholder held, 0 when empty (bounds what a stream holds back)."""
        return max(map(len, self._originals), default=0)

    def __len__(self) -> int:
        return len(self._originals)

    def to_dict(self) -> dict[str, Any]:
        return {"format": VAULT_FORMAT, "placeholders": dict(self._originals)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vault:
        """Rebuild a stored vault; refuses anything `to_dict` could not have written."""
        if not isinstance(data, dict) or data.get("format") != VAULT_FORMAT:
            raise ValueError("Not a PII vault (missing or unknown format).")
        placeholders = data.get("placeholders")
        if not isinstance(placeholders, dict):
            raise ValueError("A PII vault needs a placeholders mapping.")
        vault = cls()
        for placeholder, value in placeholders.items():
            match = _PLACEHOLDER.fullmatch(placeholder) if isinstance(placeholder, str) else None
            if match is None or match.group(1) not in ENTITY_TYPES or not isinstance(value, str):
                raise ValueError(f"Not a PII vault entry: {placeholder!r}.")
            entity_type, number = match.group(1), int(match.group(2))
            if (entity_type, value) in vault._placeholders:
                raise ValueError(f"Value stored twice in a PII vault: {placeholder!r}.")
            vault._originals[placeholder] = value
            vault._placeholders[(entity_type, value)] = placeholder
            vault._counters[entity_type] = max(vault._counters.get(entity_type, 0), number)
        return vault


@dataclass(frozen=True)
class Placement:
    """Where one placeholder stands in a redacted text: `text[start:end] == placeholder`."""

    type: str
    placeholder: str
    start: int
    end: int


@dataclass(frozen=True)
class Redaction:
    """Redacted text, how many entities of each type it had, and the vault that restores them.

    `entities` are positions in the original text; `placements` the same entities, in order, as
    placeholders in the redacted text (what a reader of the redacted text can be shown).
    """

    text: str
    counts: dict[str, int]
    vault: Vault
    entities: tuple[Entity, ...]
    placements: tuple[Placement, ...] = ()


def redact(text: str, *, vault: Vault | None = None, types: set[str] | None = None) -> Redaction:
    """Replace each entity (of `types`, default all) by its placeholder in `vault` (a new one if None)."""
    vault = Vault() if vault is None else vault
    entities = tuple(_selected(detect(text), types))
    counts: dict[str, int] = {}
    parts: list[str] = []
    placements: list[Placement] = []
    position = written = 0
    for entity in entities:
        before = text[position : entity.start]
        placeholder = vault.placeholder_for(entity_type=entity.type, value=entity.value)
        written += len(before)
        placements.append(Placement(entity.type, placeholder, written, written + len(placeholder)))
        written += len(placeholder)
        parts += [before, placeholder]
        counts[entity.type] = counts.get(entity.type, 0) + 1
        position = entity.end
    parts.append(text[position:])
    return Redaction(text="".join(parts), counts=counts, vault=vault, entities=entities, placements=tuple(placements))


def restore(text: str, vault: Vault) -> str:
    """Put the originals back into a model answer; placeholders the vault does not know stay as they are."""
    if not len(vault):
        return text
    return _PLACEHOLDER.sub(lambda match: vault.original(match.group()) or match.group(), text)


class StreamRestorer:
    """`restore` for a streamed answer whose placeholders may be split across deltas.

    Holds back only a tail that could still grow into a known placeholder: a `<` followed by at
    most `longest placeholder - 2` characters of `[A-Z0-9_]`; everything before it is emitted at once.
    """

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._held = ""

    def feed(self, delta: str) -> str:
        text = self._held + delta
        cut = self._hold_from(text)
        self._held = text[cut:]
        return restore(text[:cut], self._vault)

    def flush(self) -> str:
        """Whatever is still held: the stream ended inside something that was not a placeholder."""
        text, self._held = self._held, ""
        return restore(text, self._vault)

    def _hold_from(self, text: str) -> int:
        longest = self._vault.longest_placeholder
        if not longest:
            return len(text)
        # Only the last "<" can start a held tail: an earlier one would have this "<" inside it.
        start = text.rfind("<", max(0, len(text) - longest + 1))
        if start == -1 or not _HELD_PREFIX.match(text, start):
            return len(text)
        return start


def scrub(text: str, *, keep: Callable[[Entity], bool] | None = None) -> str:
    """One-way redaction for logs and audit payloads: every entity becomes `<TYPE>` (except those `keep` keeps)."""
    parts: list[str] = []
    position = 0
    for entity in detect(text):
        if keep is not None and keep(entity):
            continue
        parts += [text[position : entity.start], f"<{entity.type}>"]
        position = entity.end
    parts.append(text[position:])
    return "".join(parts)


def _selected(entities: Iterable[Entity], types: set[str] | None) -> Iterable[Entity]:
    if types is None:
        return entities
    unknown = set(types) - set(ENTITY_TYPES)
    if unknown:
        raise ValueError(f"Unknown PII entity types: {sorted(unknown)}.")
    return (entity for entity in entities if entity.type in types)
