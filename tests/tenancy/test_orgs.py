"""Organisations: the caller's list, creation, and settings updates."""

from __future__ import annotations

from django.test import override_settings
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import Membership, Organization, Role


def test_me_lists_memberships(api, alice) -> None:
    response = api(alice).get(reverse("me"))
    assert response.status_code == 200
    assert response.json()["memberships"] == [{"slug": "acme", "name": "Acme", "role": "owner"}]


def test_org_list_shows_only_my_orgs(api, alice, carol) -> None:
    slugs = [org["slug"] for org in api(carol).get(reverse("org-list-list")).json()["results"]]
    assert slugs == ["globex"]


def test_creating_an_org_makes_the_caller_its_owner(api, carol) -> None:
    response = api(carol).post(reverse("org-list-list"), {"name": "Initech", "slug": "initech"}, format="json")
    assert response.status_code == 201
    org = Organization.objects.get(slug="initech")
    assert Membership.objects.get(org=org, user=carol).role == Role.OWNER
    assert AuditEvent.objects.filter(action="org.created", org=org).exists()


def test_creating_org_with_taken_slug_is_409(api, carol, acme) -> None:
    response = api(carol).post(reverse("org-list-list"), {"name": "Acme 2", "slug": "acme"}, format="json")
    assert response.status_code in {400, 409}
    assert response.json()["error"]["code"] in {"invalid", "already_exists"}


@override_settings(ORG_CREATION_ENABLED=False)
def test_org_creation_can_be_switched_off(api, carol) -> None:
    response = api(carol).post(reverse("org-list-list"), {"name": "Initech", "slug": "initech"}, format="json")
    assert response.status_code == 403


def test_admin_updates_name_and_settings_but_not_plan_or_slug(api, alice, acme) -> None:
    url = reverse("org-detail", kwargs={"org_slug": "acme"})
    body = {"name": "Acme Corp", "settings": {"blocklist": ["x"]}, "plan": "enterprise", "slug": "evil"}
    response = api(alice).patch(url, body, format="json")
    assert response.status_code == 200
    acme.refresh_from_db()
    assert (acme.name, acme.settings, acme.plan, acme.slug) == ("Acme Corp", {"blocklist": ["x"]}, "free", "acme")
    event = AuditEvent.objects.get(action="org.updated")
    assert event.payload["name"] == {"before": "Acme", "after": "Acme Corp"}


def test_settings_must_be_an_object(api, alice, acme) -> None:
    response = api(alice).patch(reverse("org-detail", kwargs={"org_slug": "acme"}), {"settings": [1]}, format="json")
    assert response.status_code == 400
    assert "settings" in response.json()["error"]["details"]["fields"]
