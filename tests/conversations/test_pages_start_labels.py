"""Starting a chat that follows a label of its preset (production, staging, a custom one) from the
start form: the API's preset_label rules, and the context inspector naming the followed label."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conversations.models import Conversation
from presets import labels
from presets.models import Preset
from tenancy.models import Role
from tests.experiments_world import approved_preset
from tests.factories import MembershipFactory

pytestmark = pytest.mark.usefixtures("fake_llm")  # presets name a model of the catalogue

NEW = reverse("chat-new", kwargs={"org_slug": "acme"})
START = reverse("chat-start", kwargs={"org_slug": "acme"})


@pytest.fixture
def tutor(acme, alice) -> Preset:
    """Versions 1 and 2 approved (production follows v2); staging and canary point at v1."""
    preset = approved_preset(acme, alice, "tutor", MembershipFactory(org=acme, role=Role.APPROVER).user, versions=2)
    for name in ("staging", "canary"):
        labels.label_move(preset=preset, name=name, version=1, actor=alice)
    return preset


@pytest.fixture
def signed_in(client: Client, alice) -> Client:
    client.force_login(alice)
    return client


def start(client: Client, preset: Preset, **form: str):
    return client.post(START, {"preset": str(preset.pk), "version": "2", **form})


def test_the_start_form_offers_the_presets_labels(signed_in, tutor) -> None:
    text = signed_in.get(NEW, {"preset": str(tutor.pk)}).content.decode()
    assert 'value="label"' in text
    for name, version in (("production", 2), ("staging", 1), ("canary", 1)):
        assert f'<option value="{name}">{name} (now v{version})</option>' in text


@pytest.mark.parametrize("label", ["production", "staging", "canary"])
def test_a_chat_follows_the_chosen_label(signed_in, tutor, alice, label) -> None:
    response = start(signed_in, tutor, follow="label", label=label)
    conversation = Conversation.objects.get(user=alice)
    assert response.status_code == 302
    assert (conversation.preset_id, conversation.preset_version, conversation.preset_label) == (tutor.pk, None, label)


def test_pinning_or_following_the_latest_follows_no_label(signed_in, tutor, alice) -> None:
    start(signed_in, tutor, follow="pin", label="staging")
    start(signed_in, tutor, follow="latest", label="staging")
    assert list(Conversation.objects.order_by("created_at").values_list("preset_version", "preset_label")) == [
        (2, ""),
        (None, ""),
    ]


@pytest.mark.parametrize(
    ("label", "status", "says"),
    [
        ("Not A Label!", 400, "Preset label"),
        ("", 400, "Choose the label to follow."),
        ("nightly", 404, "has no label"),
    ],
)
def test_a_label_the_preset_lacks_or_a_bad_name_is_refused(signed_in, tutor, label, status, says) -> None:
    response = start(signed_in, tutor, follow="label", label=label)
    assert response.status_code == status
    assert says in response.content.decode()
    assert not Conversation.objects.exists()


def test_the_context_inspector_shows_the_followed_label(signed_in, tutor, alice) -> None:
    start(signed_in, tutor, follow="label", label="staging")
    conversation = Conversation.objects.get(user=alice)
    url = reverse("chat-context", kwargs={"org_slug": "acme", "pk": conversation.pk})
    text = signed_in.get(url).content.decode()
    assert "<dd data-context-label>" in text
    assert "<code>staging</code>" in text
