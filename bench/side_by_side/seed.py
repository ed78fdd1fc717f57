"""The bench's organisations, API keys, preset and conversations, through the ORM and services.

Two organisations on the enterprise plan: `gateway-bench` with every limit of the plan switched on
at a value no run reaches (so each call is checked, none refused) and PII mode `redact_for_model`;
`gateway-bench-plain` with no settings, served by the process with the guardrails off (arm O').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from conversations.models import Conversation
from presets.models import Preset
from presets.services.lifecycle import preset_create
from tenancy import services as tenancy_services
from tenancy.models import Membership, Organization, Plan, Role, User

PRESET_SLUG = "gateway-bench"
SYSTEM_PROMPT = "You are a concise assistant for a billing team. Answer in two sentences."
# An ordinary question with an e-mail address and a phone number, so the PII step has work to do.
CONTENT = "Write a short reply to Jane Doe (jane.doe@example.com, +44 20 7946 0958) about Tuesday's invoice."


@dataclass
class Tenant:
    slug: str
    org_id: str
    key_id: str
    secret: str
    conversations: list[str]

    def next_conversation(self) -> str:
        """A conversation never used before, so no turn is in progress and every prompt is the same."""
        return self.conversations.pop()


def generous(name: str) -> int:
    """A value of this limit that no run comes near (cost budgets are in currency units)."""
    if name.endswith("_rpm") or "_cost_" in name:
        return 1_000_000
    return 10**12 if "_tokens_" in name else 1_000_000_000


def all_guardrails_on() -> dict[str, Any]:
    limits = {name: generous(name) for name in settings.PLAN_LIMITS[Plan.ENTERPRISE]}
    return {"limits": limits, "pii_mode": "redact_for_model"}


def seed_tenant(slug: str, org_settings: dict[str, Any], conversations: int) -> Tenant:
    """The organisation with its member, key, preset and fresh conversations; earlier runs' are removed."""
    org, _ = Organization.objects.update_or_create(
        slug=slug, defaults={"name": slug, "plan": Plan.ENTERPRISE, "settings": org_settings}
    )
    user, _ = User.objects.get_or_create(username=slug)
    Membership.objects.get_or_create(org=org, user=user, defaults={"role": Role.MEMBER})
    Conversation.objects.filter(org=org).delete()
    preset = Preset.objects.for_org(org).filter(slug=PRESET_SLUG).first() or preset_create(
        org=org, actor=user, name="Gateway bench", slug=PRESET_SLUG, system_prompt=SYSTEM_PROMPT, model="fake"
    )
    api_key, secret = tenancy_services.api_key_create(
        org=org, actor=user, name="gateway-bench", scopes=["chat"], expires_at=None
    )
    rows = Conversation.objects.bulk_create(
        Conversation(org=org, user=user, title="bench", preset=preset) for _ in range(conversations)
    )
    return Tenant(slug, str(org.pk), str(api_key.pk), secret, [str(row.pk) for row in rows])


def seed(conversations: int) -> dict[str, Tenant]:
    return {
        "guarded": seed_tenant("gateway-bench", all_guardrails_on(), conversations),
        "plain": seed_tenant("gateway-bench-plain", {}, 0),
    }
