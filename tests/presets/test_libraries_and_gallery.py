"""Libraries (personal, team, curated) and the public gallery."""

from __future__ import annotations

from presets.models import Preset
from presets.services import review
from tests.factories import MembershipFactory
from tests.presets.conftest import url


def test_personal_library_is_private_ordered_and_filtered_by_visibility(api, alice, bob, create) -> None:
    first, second = create(alice, slug="first"), create(alice, slug="second")
    library = api(alice).post(url("library-list"), {"name": "Favourites"}, format="json")
    assert library.status_code == 201
    lib_id = library.json()["id"]
    body = {"presets": [second["id"], first["id"]]}
    ordered = api(alice).put(url("library-items", pk=lib_id), body, format="json").json()
    assert [p["slug"] for p in ordered["presets"]] == ["second", "first"]
    assert api(bob).get(url("library-detail", pk=lib_id)).status_code == 404
    api(alice).delete(url("preset-detail", pk=first["id"]))
    assert [p["slug"] for p in api(alice).get(url("library-detail", pk=lib_id)).json()["presets"]] == ["second"]


def test_items_must_be_visible_presets(api, alice, bob, create) -> None:
    theirs = create(bob, slug="theirs")
    lib_id = api(alice).post(url("library-list"), {"name": "L"}, format="json").json()["id"]
    response = api(alice).put(url("library-items", pk=lib_id), {"presets": [theirs["id"]]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["unknown"] == [theirs["id"]]
    dup = api(alice).put(url("library-items", pk=lib_id), {"presets": [theirs["id"]] * 2}, format="json")
    assert dup.status_code == 400


def test_org_library_is_managed_by_admins_and_read_by_all(api, alice, bob, create) -> None:
    refused = api(bob).post(url("library-list"), {"name": "Curated", "kind": "org"}, format="json")
    assert refused.status_code == 403
    lib = api(alice).post(url("library-list"), {"name": "Curated", "kind": "org"}, format="json").json()
    assert api(bob).get(url("library-detail", pk=lib["id"])).status_code == 200
    assert api(bob).patch(url("library-detail", pk=lib["id"]), {"name": "Mine now"}, format="json").status_code == 403


def test_team_library_needs_team_lead_and_is_seen_by_the_team(api, alice, bob, team) -> None:
    body = {"name": "Eng picks", "kind": "team", "team": str(team.pk)}
    assert api(bob).post(url("library-list"), body, format="json").status_code == 403
    lib = api(alice).post(url("library-list"), body, format="json")
    assert lib.status_code == 201
    assert api(bob).get(url("library-detail", pk=lib.json()["id"])).status_code == 200
    outsider = MembershipFactory(org=team.org).user
    assert api(outsider).get(url("library-detail", pk=lib.json()["id"])).status_code == 404
    no_team = api(alice).post(url("library-list"), {"name": "X", "kind": "team"}, format="json")
    assert no_team.status_code == 400


def test_gallery_lists_only_staff_approved_public_presets_across_orgs(api, alice, carol, acme, create) -> None:
    from tests.factories import UserFactory

    approver = MembershipFactory(org=acme, role="approver").user
    staff = UserFactory(username="staff", is_staff=True)
    body = create(alice, slug="public-helper", scope="public", system_prompt="Public prompt v1.")
    preset = Preset.objects.get(pk=body["id"])
    review.preset_submit(preset=preset, actor=alice)
    review.preset_approve(preset=preset, actor=approver, number=1)
    assert api(carol).get("/api/v1/gallery/").json()["results"] == []
    review.preset_staff_approve_public(preset=preset, staff=staff, number=1)
    listed = api(carol).get("/api/v1/gallery/?q=helper").json()["results"]
    assert [p["slug"] for p in listed] == ["public-helper"]
    detail = api(carol).get(f"/api/v1/gallery/{preset.pk}/").json()
    assert (detail["system_prompt"], detail["content_version"]) == ("Public prompt v1.", 1)
    private = create(alice, slug="private-one")
    assert api(carol).get(f"/api/v1/gallery/{private['id']}/").status_code == 404
