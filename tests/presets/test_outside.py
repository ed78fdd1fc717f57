"""Cloning another organisation's preset from the gallery or a share link."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from presets.models import Preset
from presets.services import lifecycle, sharing
from tenancy.models import Role
from tests.factories import MembershipFactory, OrganizationFactory
from tests.presets_world import gallery_tutor, make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")


@pytest.fixture
def tutor(acme, alice) -> Preset:
    return gallery_tutor(acme, alice)


def clone(api, user, preset_id, **body):
    return api(user).post(f"/api/v1/gallery/{preset_id}/clone/", body, format="json")


def test_a_gallery_clone_is_a_private_copy_of_the_gallery_version_with_lineage(api, carol, globex, tutor) -> None:
    response = clone(api, carol, tutor.pk, name="My tutor")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["slug"], body["owner"], body["scope"], body["status"]) == (
        "My tutor",
        "tutor-copy",
        "carol",
        "private",
        "approved",
    )
    assert (body["forked_from"], body["forked_from_version"]) == (str(tutor.pk), 2)
    assert body["system_prompt"] == "Teach {{subject}} simply."  # the gallery's version, not the owner's draft
    copy = Preset.objects.get(pk=body["id"])
    assert (copy.org, copy.forked_from_id, copy.forked_from_version) == (globex, tutor.pk, 2)
    event = AuditEvent.objects.get(org=globex, action="preset.cloned")
    assert (event.actor_user, event.target_id) == (carol, body["id"])
    assert event.payload == {"source": str(tutor.pk), "source_version": 2, "via": "gallery"}
    assert AuditEvent.objects.filter(org=globex, target_id=body["id"]).count() == 1  # one event per call
    assert api(carol).get(f"/api/v1/orgs/globex/presets/{body['id']}/").status_code == 200
    assert clone(api, carol, tutor.pk).json()["slug"] == "tutor-copy-2"


def test_the_owner_sees_nothing_of_the_copy(api, alice, carol, tutor) -> None:
    copied = clone(api, carol, tutor.pk).json()
    assert api(alice).get(f"/api/v1/orgs/acme/presets/{copied['id']}/").status_code == 404
    assert api(alice).get(f"/api/v1/orgs/globex/presets/{copied['id']}/").status_code == 404
    assert api(alice).get(f"/api/v1/orgs/acme/presets/{tutor.pk}/").json()["forked_from"] is None


def test_viewers_may_not_clone_and_the_org_is_one_of_the_callers(api, carol, globex, tutor, make_key) -> None:
    viewer = MembershipFactory(org=globex, role=Role.VIEWER).user
    refused = clone(api, viewer, tutor.pk)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    assert clone(api, carol, tutor.pk, org="acme").status_code == 404
    assert clone(api, carol, tutor.pk, org="nope").status_code == 404
    MembershipFactory(org=OrganizationFactory(slug="initech"), user=carol, role=Role.MEMBER)
    assert clone(api, carol, tutor.pk).json()["error"]["details"]["field"] == "org"
    assert clone(api, carol, tutor.pk, org="initech").status_code == 201
    _, read_key = make_key(carol, globex, ["presets:read"])
    assert api(key=read_key).post(f"/api/v1/gallery/{tutor.pk}/clone/", {}, format="json").status_code == 403
    _, write_key = make_key(carol, globex, ["presets:write"])
    by_key = api(key=write_key).post(f"/api/v1/gallery/{tutor.pk}/clone/", {}, format="json")
    assert (by_key.status_code, Preset.objects.get(pk=by_key.json()["id"]).org) == (201, globex)
    assert not Preset.objects.filter(org=globex, owner=viewer).exists()


def test_what_the_gallery_does_not_show_is_404(api, acme, alice, carol, tutor) -> None:
    private = make_preset(acme, alice, "private-one")
    for preset_id in (private.pk, "00000000-0000-0000-0000-000000000000"):
        assert clone(api, carol, preset_id).status_code == 404
    assert api(carol).post("/api/v1/gallery/null,null/clone/", {}, format="json").status_code == 404
    lifecycle.preset_delete(preset=tutor, actor=alice)
    assert clone(api, carol, tutor.pk).status_code == 404
    assert not Preset.objects.filter(owner=carol).exists()


def test_bad_input_is_400(api, carol, tutor) -> None:
    for body in ({"name": "a\x00b"}, {"org": "glo\x00bex"}, {"name": "x" * 201}, {"org": ["globex"]}):
        assert clone(api, carol, tutor.pk, **body).status_code == 400, body


def test_the_callers_org_model_policy_applies_to_the_copy(api, carol, globex, tutor) -> None:
    globex.settings = {**globex.settings, "allowed_models": ["fake-backup"]}
    globex.save()
    refused = clone(api, carol, tutor.pk)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "model_not_allowed")
    assert refused.json()["error"]["details"]["allowed"] == ["fake-backup"]


def test_a_link_clone_keeps_lineage_needs_a_writer_and_counts_no_use_when_refused(
    api, alice, carol, globex, tutor
) -> None:
    link, token = sharing.link_create(
        preset=tutor, actor=alice, level="view", audience="any_signed_in_user", expires_at=None, max_uses=None
    )
    viewer = MembershipFactory(org=globex, role=Role.VIEWER).user
    assert api(viewer).post(f"/api/v1/links/{token}/clone/", {}, format="json").status_code == 403
    link.refresh_from_db()
    assert link.uses == 0
    copied = api(carol).post(f"/api/v1/links/{token}/clone/", {}, format="json")
    assert copied.status_code == 201
    assert (copied.json()["forked_from"], copied.json()["forked_from_version"]) == (str(tutor.pk), 2)
    assert AuditEvent.objects.get(org=globex, action="preset.cloned").payload["via"] == "link"
    link.refresh_from_db()
    assert link.uses == 1


def test_the_gallery_lists_the_model_of_its_version_not_of_the_owners_draft(api, alice, carol, tutor) -> None:
    lifecycle.preset_update(preset=tutor, actor=alice, model="fake-backup")
    (listed,) = api(carol).get("/api/v1/gallery/").json()["results"]
    assert (listed["id"], listed["model"]) == (str(tutor.pk), "fake")
    assert api(carol).get(f"/api/v1/gallery/{tutor.pk}/").json()["model"] == "fake"
