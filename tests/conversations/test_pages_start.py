"""Starting a chat from the page (picker, variables, pin or follow) and upgrading a pinned chat: the
same services and rules as POST …/conversations/ and its apply-preset action."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from chatpresets.llm.catalogue import default_model
from conversations.models import Conversation
from presets.models import Scope
from presets.services import lifecycle, review, sharing
from tenancy.models import Role
from tests.factories import MembershipFactory, TeamFactory, TeamMembershipFactory
from tests.presets_world import make_preset


def writer(org, owner):
    """A private preset (approved as written) with an optional and a required variable."""
    return lifecycle.preset_create(
        org=org,
        actor=owner,
        name="Writer",
        slug="writer",
        system_prompt="Write for {{ audience }} in a {{ tone }} tone.",
        model=default_model(),
        variables=VARIABLES,
    )


pytestmark = pytest.mark.usefixtures("fake_llm")  # presets name a model of the catalogue

VARIABLES = [
    {"name": "audience", "description": "Who reads the answer", "default": "engineers"},
    {"name": "tone", "required": True},
]
NEW = reverse("chat-new", kwargs={"org_slug": "acme"})
START = reverse("chat-start", kwargs={"org_slug": "acme"})


def approved_org_preset(org, author, approver, slug: str, **kwargs):
    preset = make_preset(org, author, slug, scope=Scope.ORG, **kwargs)
    review.preset_submit(preset=preset, actor=author)
    review.preset_approve(preset=preset, actor=approver, number=preset.version)
    preset.refresh_from_db()
    return preset


@pytest.fixture
def signed_in(client: Client, alice) -> Client:
    client.force_login(alice)
    return client


def group_of(html: str, name: str) -> str:
    """The heading of the picker group that lists `name`."""
    before = html[: html.index(f'<span class="preset-name">{name}</span>')]
    heading = before[before.rindex("<h3") :]
    return heading[heading.index(">") + 1 : heading.index("</h3>")]


def test_the_picker_groups_presets_as_mine_team_organisation_public_and_shared(client, acme, alice, bob) -> None:
    team = TeamFactory(org=acme, name="Writers")
    TeamMembershipFactory(team=team, user=bob)
    make_preset(acme, bob, "bobs-own")
    make_preset(acme, alice, "team-tool", scope=Scope.TEAM, team=team)
    approved_org_preset(acme, alice, MembershipFactory(org=acme, role=Role.APPROVER).user, "org-wide")
    sharing.share_grant(preset=make_preset(acme, alice, "alices-private"), actor=alice, level="use", user=bob)
    make_preset(acme, alice, "hidden-private")
    client.force_login(bob)

    html = client.get(NEW).content.decode()

    assert group_of(html, "Bobs-Own") == "Mine"
    assert group_of(html, "Team-Tool") == "Team"
    assert group_of(html, "Org-Wide") == "Organisation"
    assert group_of(html, "Alices-Private") == "Shared with me"
    assert "Hidden-Private" not in html
    assert "Not approved yet" in html  # the team preset was never approved: bob cannot start it
    assert "approved v1" in html


def test_picker_search_narrows_the_list(signed_in, acme, alice) -> None:
    make_preset(acme, alice, "kitchen-helper", description="Recipes and cooking")
    make_preset(acme, alice, "tax-advisor")
    html = signed_in.get(reverse("chat-picker", kwargs={"org_slug": "acme"}), {"q": "cooking"}).content.decode()
    assert "Kitchen-Helper" in html
    assert "Tax-Advisor" not in html


def test_picking_a_preset_shows_its_variables_with_their_defaults(signed_in, acme, alice) -> None:
    preset = writer(acme, alice)
    html = signed_in.get(NEW, {"preset": str(preset.pk)}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="start-panel")
    text = html.content.decode()
    assert html.status_code == 200
    assert 'id="start-panel"' in text
    assert "<html" not in text  # the form only, for htmx to swap in
    assert 'name="var_audience" value="engineers"' in text
    assert 'name="var_tone" value=""' in text
    assert "Pin version 1" in text


def test_start_creates_the_conversation_pinned_with_the_variables(signed_in, acme, alice) -> None:
    preset = writer(acme, alice)
    body = {"preset": str(preset.pk), "follow": "pin", "version": "1", "var_audience": "kids", "var_tone": "warm"}

    response = signed_in.post(START, body)

    conversation = Conversation.objects.get(user=alice)
    assert response.status_code == 302
    assert response["Location"] == reverse("chat", kwargs={"org_slug": "acme", "pk": conversation.pk})
    assert (conversation.preset_id, conversation.preset_version) == (preset.pk, 1)
    assert conversation.variables == {"audience": "kids", "tone": "warm"}
    assert AuditEvent.objects.filter(action="conversation.created", target_id=str(conversation.pk)).exists()


def test_following_the_latest_approved_version_pins_nothing(signed_in, acme, alice) -> None:
    preset = make_preset(acme, alice, "plain")
    signed_in.post(START, {"preset": str(preset.pk), "follow": "latest", "version": "1"})
    assert Conversation.objects.get(user=alice).preset_version is None


def test_no_preset_starts_a_plain_chat(signed_in, alice) -> None:
    response = signed_in.post(START, {"preset": ""})
    conversation = Conversation.objects.get(user=alice)
    assert response.status_code == 302
    assert (conversation.preset_id, conversation.variables) == (None, {})


def test_a_missing_required_variable_is_a_400_that_says_which(signed_in, acme, alice) -> None:
    preset = writer(acme, alice)
    response = signed_in.post(START, {"preset": str(preset.pk), "version": "1", "var_audience": "kids", "var_tone": ""})
    assert response.status_code == 400
    assert "Missing required variable(s): tone." in response.content.decode()
    assert 'value="kids"' in response.content.decode()  # what was typed is kept
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("version", ["abc", "0", "99", "²", "9" * 30])
def test_a_bad_version_is_refused_with_4xx(signed_in, acme, alice, version) -> None:
    preset = make_preset(acme, alice, "plain")
    response = signed_in.post(START, {"preset": str(preset.pk), "follow": "pin", "version": version})
    assert 400 <= response.status_code < 500
    assert not Conversation.objects.exists()


def test_a_preset_not_yet_approved_cannot_be_started_by_a_member(client, acme, alice, bob) -> None:
    draft = make_preset(acme, alice, "org-draft", scope=Scope.ORG)
    sharing.share_grant(preset=draft, actor=alice, level="view", user=bob)
    client.force_login(bob)
    page = client.get(NEW, {"preset": str(draft.pk)}).content.decode()
    response = client.post(START, {"preset": str(draft.pk), "follow": "latest"})
    assert "Not approved yet" in page
    assert '<button type="submit" class="primary" disabled>Start chat</button>' in page
    assert response.status_code == 409
    assert not Conversation.objects.exists()


def test_another_organisations_preset_is_404(client, acme, alice, globex, carol) -> None:
    foreign = make_preset(acme, alice, "acme-only")
    client.force_login(carol)
    globex_new = reverse("chat-new", kwargs={"org_slug": "globex"})
    assert client.get(globex_new, {"preset": str(foreign.pk)}).status_code == 404
    response = client.post(reverse("chat-start", kwargs={"org_slug": "globex"}), {"preset": str(foreign.pk)})
    assert response.status_code == 404
    assert client.get(globex_new, {"preset": "not-a-uuid"}).status_code == 400  # not an id at all: bad input
    assert not Conversation.objects.exists()


def test_a_viewer_sees_a_notice_instead_of_the_picker_and_may_not_start(client, acme, member_with_role) -> None:
    viewer = member_with_role(Role.VIEWER)
    client.force_login(viewer)
    page = client.get(NEW)
    assert page.status_code == 200
    assert "you may read its presets but not chat" in page.content.decode()
    assert "Start chat" not in page.content.decode()
    assert client.post(START, {"preset": ""}).status_code == 403
    assert client.get(reverse("chat-picker", kwargs={"org_slug": "acme"})).status_code == 403
    assert not Conversation.objects.exists()


def test_start_needs_the_csrf_token(acme, alice) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(START, {"preset": ""}).status_code == 403
    assert not Conversation.objects.exists()


def pinned_chat_with_newer_approved_version(acme, alice, bob):
    preset = approved_org_preset(acme, bob, alice, "evolving")
    conversation = Conversation.objects.create(org=acme, user=bob, preset=preset, preset_version=1)
    lifecycle.preset_update(preset=preset, actor=bob, system_prompt="You are evolving, version two.")
    review.preset_approve(preset=preset, actor=alice, number=2)  # the edit went to review by itself
    return conversation


def test_the_banner_offers_the_newer_approved_version_and_upgrade_pins_it(client, acme, alice, bob) -> None:
    conversation = pinned_chat_with_newer_approved_version(acme, alice, bob)
    client.force_login(bob)
    page = client.get(reverse("chat", kwargs={"org_slug": "acme", "pk": conversation.pk})).content.decode()

    url = reverse("chat-upgrade", kwargs={"org_slug": "acme", "pk": conversation.pk})
    response = client.post(url, {"version": "2"}, HTTP_HX_REQUEST="true")

    assert "Upgrade to version 2" in page
    assert response.status_code == 200
    assert "now uses version 2" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.preset_version == 2
    assert AuditEvent.objects.filter(action="conversation.preset_applied", target_id=str(conversation.pk)).exists()


def test_no_banner_when_the_pinned_version_is_the_newest_approved(client, acme, alice, bob) -> None:
    preset = approved_org_preset(acme, bob, alice, "steady")
    conversation = Conversation.objects.create(org=acme, user=bob, preset=preset, preset_version=1)
    client.force_login(bob)
    page = client.get(reverse("chat", kwargs={"org_slug": "acme", "pk": conversation.pk})).content.decode()
    assert "upgrade-banner" not in page


@pytest.mark.parametrize(("version", "status"), [("abc", 400), ("9" * 30, 400), ("7", 409)])
def test_upgrade_refuses_a_bad_version(client, acme, alice, bob, version, status) -> None:
    conversation = pinned_chat_with_newer_approved_version(acme, alice, bob)
    client.force_login(bob)
    url = reverse("chat-upgrade", kwargs={"org_slug": "acme", "pk": conversation.pk})
    response = client.post(url, {"version": version}, HTTP_HX_REQUEST="true")
    assert response.status_code == status
    assert 'role="alert"' in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.preset_version == 1


def test_upgrade_is_404_across_organisations_and_403_for_viewers(
    client, acme, alice, bob, carol, member_with_role
) -> None:
    conversation = pinned_chat_with_newer_approved_version(acme, alice, bob)
    client.force_login(carol)
    assert client.post(reverse("chat-upgrade", kwargs={"org_slug": "globex", "pk": conversation.pk})).status_code == 404
    client.force_login(member_with_role(Role.VIEWER))
    assert client.post(reverse("chat-upgrade", kwargs={"org_slug": "acme", "pk": conversation.pk})).status_code == 403
    conversation.refresh_from_db()
    assert conversation.preset_version == 1
