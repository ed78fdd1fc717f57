"""Staff can list and edit every tenancy model in the admin; those edits are audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import ApiKey


@pytest.fixture
def staff_client(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    return client


@pytest.mark.parametrize("model", ["user", "organization", "membership", "team", "apikey"])
def test_changelists_render(staff_client, team, make_key, alice, acme, model) -> None:
    make_key(alice, acme, ["org:read"])
    response = staff_client.get(reverse(f"admin:tenancy_{model}_changelist"))
    assert response.status_code == 200


def test_admin_edit_of_an_organisation_is_audited(staff_client, acme) -> None:
    url = reverse("admin:tenancy_organization_change", args=[acme.pk])
    form = {
        "name": "Acme Ltd",
        "slug": "acme",
        "plan": "enterprise",
        "settings": "{}",
        "membership_set-TOTAL_FORMS": "0",
        "membership_set-INITIAL_FORMS": "0",
        "team_set-TOTAL_FORMS": "0",
        "team_set-INITIAL_FORMS": "0",
    }
    response = staff_client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="admin.organization.changed")
    assert {"name", "plan"} <= set(event.payload["fields"])
    assert "slug" not in event.payload["fields"]


def test_admin_revoke_action(staff_client, alice, acme, make_key) -> None:
    api_key, _ = make_key(alice, acme, ["org:read"])
    response = staff_client.post(
        reverse("admin:tenancy_apikey_changelist"), {"action": "revoke", "_selected_action": [str(api_key.pk)]}
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None


def test_admin_bulk_delete_is_audited_per_object(staff_client, acme) -> None:
    from tests.factories import TeamFactory

    teams = [TeamFactory(org=acme), TeamFactory(org=acme)]
    response = staff_client.post(
        reverse("admin:tenancy_team_changelist"),
        {"action": "delete_selected", "_selected_action": [str(t.pk) for t in teams], "post": "yes"},
    )
    assert response.status_code == 302
    deleted = set(AuditEvent.objects.filter(action="admin.team.deleted").values_list("target_id", flat=True))
    assert deleted == {str(t.pk) for t in teams}
