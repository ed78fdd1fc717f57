"""Sensitive reads are on the trail: conversation exports, hidden prompts shown, share links opened."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from presets.services import sharing
from tests.presets_world import make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


@pytest.mark.parametrize("kind", ["json", "markdown"])
def test_an_export_is_recorded_once_with_its_format(api, acme, alice, kind) -> None:
    client = api(alice)
    conversation = client.post(reverse("conversation-list", kwargs={"org_slug": "acme"}), {}, format="json").json()
    url = reverse("conversation-export", kwargs={"org_slug": "acme", "pk": conversation["id"]})
    response = client.get(f"{url}?as={kind}", HTTP_X_REQUEST_ID="export-1")
    assert response.status_code == 200
    [event] = events("conversation.exported")
    assert (event.org, event.actor_user, event.target_id) == (acme, alice, conversation["id"])
    assert (event.payload, event.request_id) == ({"as": kind}, "export-1")


def test_a_refused_export_format_records_no_export(api, acme, alice) -> None:
    client = api(alice)
    conversation = client.post(reverse("conversation-list", kwargs={"org_slug": "acme"}), {}, format="json").json()
    url = reverse("conversation-export", kwargs={"org_slug": "acme", "pk": conversation["id"]})
    assert client.get(f"{url}?as=pdf").status_code == 400
    assert events("conversation.exported") == []


@pytest.fixture
def hidden(acme, alice, bob):
    """An org preset of alice's that bob may only run: its prompt is hidden from him."""
    preset = make_preset(acme, alice, "house-style")
    sharing.share_grant(preset=preset, actor=alice, level="use", user=bob)
    return preset


def test_reading_a_hidden_prompt_is_recorded_with_the_versions_shown(api, acme, alice, hidden, member_with_role):
    admin = member_with_role("admin")
    sharing.share_grant(preset=hidden, actor=alice, level="view", user=admin)
    client = api(admin)
    detail = reverse("preset-detail", kwargs={"org_slug": "acme", "pk": hidden.pk})
    version = reverse("preset-version-detail", kwargs={"org_slug": "acme", "preset_id": hidden.pk, "number": 1})
    assert client.get(detail).json()["system_prompt"] == "You are house-style."
    assert client.get(version).status_code == 200
    viewed = events("preset.prompt_viewed")
    assert [(e.org, e.actor_user, e.target_id, e.payload) for e in viewed] == [
        (acme, admin, str(hidden.pk), {"versions": [1]}),
        (acme, admin, str(hidden.pk), {"versions": [1]}),
    ]


def test_the_owner_and_prompts_hidden_from_nobody_are_not_recorded(api, acme, alice, bob, hidden) -> None:
    open_preset = make_preset(acme, alice, "open-book")
    sharing.share_grant(preset=open_preset, actor=alice, level="view", user=bob)
    assert api(alice).get(reverse("preset-detail", kwargs={"org_slug": "acme", "pk": hidden.pk})).status_code == 200
    assert api(bob).get(reverse("preset-detail", kwargs={"org_slug": "acme", "pk": open_preset.pk})).status_code == 200
    # bob may run the hidden one: he gets its detail without the prompt, which is not a read of it
    body = api(bob).get(reverse("preset-detail", kwargs={"org_slug": "acme", "pk": hidden.pk})).json()
    assert body["system_prompt"] is None
    assert events("preset.prompt_viewed") == []


def test_a_use_link_hides_the_prompt_too(api, acme, alice, member_with_role) -> None:
    preset = make_preset(acme, alice, "linked")
    sharing.link_create(preset=preset, actor=alice, level="use", audience="org", expires_at=None, max_uses=None)
    reader = member_with_role("admin")
    sharing.share_grant(preset=preset, actor=alice, level="view", user=reader)
    assert api(reader).get(reverse("preset-detail", kwargs={"org_slug": "acme", "pk": preset.pk})).status_code == 200
    assert len(events("preset.prompt_viewed")) == 1


def test_opening_a_share_link_is_recorded(api, acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "shared")
    link, token = sharing.link_create(
        preset=preset, actor=alice, level="view", audience="org", expires_at=None, max_uses=None
    )
    assert api(bob).get(reverse("link-open", kwargs={"token": token})).status_code == 200
    [event] = events("preset_link.opened")
    assert (event.org, event.actor_user, event.target_id) == (acme, bob, str(link.pk))
