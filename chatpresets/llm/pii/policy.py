"""The PII guardrail of a chat turn: which mode applies, and what the model, the store and the user see.

Modes (the organisation's `settings["pii_mode"]`, overridden by the preset version's `policy.pii_mode`):
- `off`: nothing changes.
- `redact_for_model`: the model sees `<EMAIL_1>`-style placeholders; the stored message and what the
  user sees keep the originals, and placeholders in the answer are put back. The conversation keeps
  the vault, so the same value has the same placeholder in every turn.
- `redact_stored`: the message is also stored with placeholders, and answers are not restored, so
  the original never reaches the database. The vault keeps only digests of the values, enough to
  number them consistently across turns.
- `block`: a message with PII is refused (400 naming the entity types) before anything is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from chatpresets.errors import InvalidInput
from chatpresets.llm.pii.redact import Redaction, StreamRestorer, Vault, redact, restore

MODES = ("off", "redact_for_model", "redact_stored", "block")


class PiiBlocked(InvalidInput):
    code = "pii_blocked"
    message = "The message contains personal data, which this organisation does not allow to be sent."


class DigestVault(Vault):
    """Numbers values by their SHA-256 digest, so the stored vault never holds an original."""

    def placeholder_for(self, *, entity_type: str, value: str) -> str:
        return super().placeholder_for(entity_type=entity_type, value=hashlib.sha256(value.encode()).hexdigest())


def mode_for(*, org_settings: dict[str, Any], preset_policy: dict[str, Any] | None) -> str:
    mode = (preset_policy or {}).get("pii_mode") or org_settings.get("pii_mode") or "off"
    return mode if mode in MODES else "off"


@dataclass
class Screening:
    """One turn under one mode: the text to store for the user's message and how to talk to the model."""

    mode: str
    vault: Vault | None = None
    findings: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.mode in ("redact_for_model", "redact_stored")

    def stored_text(self, content: str) -> str:
        """Screen the user's new message: record what was found and return the text to store."""
        if self.mode == "off":
            return content
        # Only a stored redaction numbers values here; under `redact_for_model` the prompt does, in
        # prompt order, so the context inspector (no new message) numbers history as the turn will.
        result = redact(content, vault=self.vault if self.mode == "redact_stored" else None)
        if self.mode == "block" and result.counts:
            raise PiiBlocked(details={"field": "content", "entity_types": sorted(result.counts)})
        self.findings = {"mode": self.mode, "entities": result.counts} if result.counts else {}
        return result.text if self.mode == "redact_stored" else content

    def redact(self, text: str) -> Redaction | None:
        """`text` as the model sees it, through the conversation's vault; None when this mode sends it as is."""
        return redact(text, vault=self.vault) if self.active else None

    def for_model(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """The prompt with every non-system message redacted through the conversation's vault."""
        if not self.active:
            return messages
        return [
            m if m["role"] == "system" else {**m, "content": redact(m["content"], vault=self.vault).text}
            for m in messages
        ]

    def restore(self, text: str) -> str:
        """A whole answer with its placeholders put back (under `redact_for_model` only)."""
        return restore(text, self.vault) if self.mode == "redact_for_model" and self.vault is not None else text

    def restorer(self) -> StreamRestorer | None:
        return StreamRestorer(self.vault) if self.mode == "redact_for_model" and self.vault is not None else None

    def stored_vault(self) -> dict[str, Any]:
        return {"mode": self.mode, "vault": self.vault.to_dict()} if self.active and self.vault else {}


def screening_for(
    *, org_settings: dict[str, Any] | None, preset_policy: dict[str, Any] | None, stored: dict[str, Any] | None = None
) -> Screening:
    """The screening under the mode the organisation and the preset's policy choose."""
    mode = mode_for(org_settings=org_settings or {}, preset_policy=preset_policy)
    return screening(mode=mode, stored=stored or {})


def screening(*, mode: str, stored: dict[str, Any]) -> Screening:
    """The turn's screening, continuing the conversation's vault when it was kept under the same mode."""
    if mode not in ("redact_for_model", "redact_stored"):
        return Screening(mode)
    kind = DigestVault if mode == "redact_stored" else Vault
    vault = kind.from_dict(stored["vault"]) if stored.get("mode") == mode else kind()
    return Screening(mode, vault)
