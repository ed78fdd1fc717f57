"""The share dialog (grants, links, libraries) and a share link's landing page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from presets.models import Library, LibraryItem, Preset, PresetLink
from presets.services import sharing
from tenancy.models import User
from tests.factories import MembershipFactory
from tests.presets.pages import page, signed_in
from tests.presets_world import make_preset


def test_sharing_with_a_member_grants_the_level(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "writer")

    response = signed_in(alice).post(page("preset-grant-page", pk=preset.pk), {"user": "bob", "level": "view"})

    assert response.status_code == 302
    assert [(s.name, s.level) for s in sharing.shares_of(preset)] == [("bob", "view")]


def test_sharing_with_someone_outside_the_organisation_is_refused_inline(acme, alice, carol) -> None:
    preset = make_preset(acme, alice, "writer")

    response = signed_in(alice).post(page("preset-grant-page", pk=preset.pk), {"user": "carol", "level": "view"})

    assert response.status_code == 400
    assert 'data-error-code="invalid"' in response.content.decode()
    assert sharing.shares_of(preset) == []


def test_a_new_link_is_shown_once_and_opens_the_preset(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "writer")
    response = signed_in(alice).post(
        page("preset-link-create-page", pk=preset.pk), {"level": "view", "expires_in": "24", "max_uses": "3"}
    )
    url = response.context["new_link_url"]
    link = PresetLink.objects.get(preset=preset)

    landing = signed_in(bob).get(url)

    assert link.max_uses == 3
    assert timedelta(hours=23) < link.expires_at - timezone.now() <= timedelta(hours=24)
    assert landing.status_code == 200
    assert "You are writer." in landing.content.decode()
    assert url not in signed_in(alice).get(page("preset-share-page", pk=preset.pk)).content.decode()
    link.refresh_from_db()
    assert link.uses == 1


def test_a_link_with_an_odd_expiry_or_max_uses_is_refused(acme, alice) -> None:
    preset = make_preset(acme, alice, "writer")
    client = signed_in(alice)

    assert client.post(page("preset-link-create-page", pk=preset.pk), {"expires_in": "5"}).status_code == 400
    assert client.post(page("preset-link-create-page", pk=preset.pk), {"max_uses": "0"}).status_code == 400
    assert not PresetLink.objects.exists()


def _link(preset: Preset, actor: User, **kwargs: Any) -> tuple[PresetLink, str]:
    fields = {"level": "view", "audience": "org", "expires_at": None, "max_uses": None, **kwargs}
    return sharing.link_create(preset=preset, actor=actor, **fields)


def test_a_use_link_hides_the_prompt_and_offers_no_clone(acme, alice, bob) -> None:
    _, token = _link(make_preset(acme, alice, "writer"), alice, level="use")

    body = signed_in(bob).get(f"/l/{token}/").content.decode()

    assert "data-prompt-hidden" in body
    assert "You are writer." not in body
    assert "Clone to my presets" not in body


def test_closed_links_say_why_to_whoever_they_were_for(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "writer")
    revoked, revoked_token = _link(preset, alice)
    sharing.link_revoke(link=revoked, actor=alice)
    expired, expired_token = _link(preset, alice)
    PresetLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    _, used_token = _link(preset, alice, max_uses=1)
    signed_in(MembershipFactory(org=acme).user).get(f"/l/{used_token}/")  # its one use goes to someone else
    client = signed_in(bob)

    for token, state in ((revoked_token, "revoked"), (expired_token, "expired"), (used_token, "used_up")):
        response = client.get(f"/l/{token}/")
        assert response.status_code == 410
        assert f'data-link-state="{state}"' in response.content.decode()


def test_a_closed_org_link_is_a_plain_404_to_outsiders_as_is_an_unknown_token(acme, alice, carol) -> None:
    link, token = _link(make_preset(acme, alice, "writer"), alice)
    sharing.link_revoke(link=link, actor=alice)

    assert signed_in(carol).get(f"/l/{token}/").status_code == 404
    assert signed_in(carol).get("/l/no-such-token/").status_code == 404


def test_cloning_from_a_link_copies_into_the_chosen_organisation(acme, alice, carol) -> None:
    _, token = _link(make_preset(acme, alice, "writer"), alice, audience="any_signed_in_user")

    response = signed_in(carol).post(f"/l/{token}/clone/", {"org": "globex"})

    copy = Preset.objects.get(owner=carol)
    assert response.status_code == 302
    assert (copy.org.slug, copy.system_prompt) == ("globex", "You are writer.")


def test_cloning_into_an_organisation_the_caller_is_not_in_is_refused(acme, alice, carol) -> None:
    _, token = _link(make_preset(acme, alice, "writer"), alice, audience="any_signed_in_user")

    response = signed_in(carol).post(f"/l/{token}/clone/", {"org": "acme"})

    assert response.status_code == 404
    assert not Preset.objects.filter(owner=carol).exists()


def test_the_library_toggle_keeps_the_items_the_caller_cannot_see(acme, alice, bob) -> None:
    library = Library.objects.create(org=acme, name="Team picks", kind="org", owner=alice)
    hidden = make_preset(acme, bob, "bobs-own")
    LibraryItem.objects.create(org=acme, library=library, preset=hidden, position=0)
    preset = make_preset(acme, alice, "writer")

    signed_in(alice).post(page("preset-library-page", pk=preset.pk), {"library": str(library.pk)})

    assert list(LibraryItem.objects.filter(library=library).values_list("preset__slug", flat=True)) == [
        "bobs-own",
        "writer",
    ]


def test_revoking_a_link_closes_it(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "writer")
    link, token = _link(preset, alice)

    signed_in(alice).post(page("preset-link-revoke-page", pk=preset.pk, link_id=link.pk))

    assert signed_in(bob).get(f"/l/{token}/").status_code == 410


def test_the_gallery_lists_only_presets_staff_let_in(acme, alice) -> None:
    listed = make_preset(acme, alice, "listed", scope="public")
    Preset.objects.filter(pk=listed.pk).update(approved_version=1, public_approved_version=1)
    make_preset(acme, alice, "unlisted", scope="public")

    response = signed_in(alice).get("/gallery/")

    assert [p.slug for p in response.context["page"]] == ["listed"]
    assert signed_in(alice).get(f"/gallery/{listed.pk}/").status_code == 200


def test_starting_a_chat_from_a_link_opens_a_conversation_in_the_callers_organisation(acme, alice, carol) -> None:
    from conversations.models import Conversation

    preset = make_preset(acme, alice, "writer")
    _, token = _link(preset, alice, level="use", audience="any_signed_in_user")

    response = signed_in(carol).post(f"/l/{token}/chat/", {"org": "globex"})

    conversation = Conversation.objects.get(user=carol)
    assert response["Location"] == f"/o/globex/chat/{conversation.pk}/"
    assert (conversation.org.slug, conversation.preset_id, conversation.preset_via) == ("globex", preset.pk, "link")


def test_starting_a_chat_from_a_link_in_someone_elses_organisation_is_404(acme, alice, carol) -> None:
    _, token = _link(make_preset(acme, alice, "writer"), alice, audience="any_signed_in_user")

    assert signed_in(carol).post(f"/l/{token}/chat/", {"org": "acme"}).status_code == 404


def test_cloning_from_the_gallery(acme, alice, carol) -> None:
    listed = make_preset(acme, alice, "listed", scope="public")
    Preset.objects.filter(pk=listed.pk).update(approved_version=1, public_approved_version=1)

    response = signed_in(carol).post(f"/gallery/{listed.pk}/clone/", {"org": "globex"})

    copy = Preset.objects.get(owner=carol)
    assert response.status_code == 302
    assert (copy.org.slug, copy.forked_from_id) == ("globex", listed.pk)


def test_odd_form_input_on_the_link_pages_is_a_400(acme, alice, carol) -> None:
    preset = make_preset(acme, alice, "writer", variables=[{"name": "v", "default": "there"}])
    _, token = _link(preset, alice, audience="any_signed_in_user")
    client = signed_in(carol)

    assert client.post(f"/l/{token}/chat/", {"org": "globex", "var-v": "a\x00"}).status_code == 400
    assert client.post(f"/l/{token}/chat/", {"org": "glo bex"}).status_code == 400
    assert client.post(f"/l/{token}/clone/", {"org": "globex\x00"}).status_code == 400
    assert client.post(f"/l/{token}/chat/", {"org": "globex", "var-nope": "x"}).status_code == 400
    assert not Preset.objects.filter(owner=carol).exists()
