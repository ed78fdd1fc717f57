"""GET/PUT …/audit/retention/: owners set how long the trail is kept, never below the service's floor."""

from __future__ import annotations

import pytest

from audit.models import AuditChainHead, AuditEvent

URL = "/api/v1/orgs/acme/audit/retention/"


@pytest.fixture
def floor(settings) -> int:
    settings.AUDIT_RETENTION_DAYS = 90
    return 90


def test_an_untouched_organisation_keeps_the_service_default(floor, alice, api) -> None:
    response = api(alice).get(URL)
    assert response.status_code == 200
    assert response.json() == {"retention_days": None, "effective_days": 90, "minimum_days": 90}
    assert not AuditChainHead.objects.filter(retention_days__isnull=False).exists()  # reading creates nothing


@pytest.mark.parametrize(("days", "effective"), [(365, 365), (0, 0), (90, 90), (None, 90)])
def test_owner_sets_retention_and_the_change_is_audited(floor, days, effective, acme, alice, api) -> None:
    response = api(alice).put(URL, {"retention_days": days}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"retention_days": days, "effective_days": effective, "minimum_days": 90}
    assert AuditChainHead.objects.get(pk=str(acme.pk)).retention_days == days
    event = AuditEvent.objects.filter(org=acme, action="audit.retention_changed").get()
    assert event.actor_user == alice


def test_below_the_floor_is_refused_with_the_floor(floor, acme, alice, api) -> None:
    response = api(alice).put(URL, {"retention_days": 30}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "audit_retention_below_floor"
    assert error["details"] == {"minimum_days": 90, "retention_days": 30}
    assert not AuditEvent.objects.filter(action="audit.retention_changed").exists()


@pytest.mark.parametrize(
    "body", [{}, {"retention_days": "soon"}, {"retention_days": -1}, {"retention_days": 10**9}, {"retention_days": []}]
)
def test_bad_values_are_refused_as_invalid_input(floor, body, alice, api) -> None:
    response = api(alice).put(URL, body, format="json")
    assert response.status_code == 400
    assert "retention_days" in str(response.json()["error"])
    assert not AuditEvent.objects.filter(action="audit.retention_changed").exists()


def test_admins_read_but_only_owners_change(floor, acme, member_with_role, api) -> None:
    admin = api(member_with_role("admin"))
    assert admin.get(URL).status_code == 200
    assert admin.put(URL, {"retention_days": 365}, format="json").status_code == 403
    assert AuditChainHead.objects.filter(pk=str(acme.pk), retention_days=365).count() == 0


def test_keys_read_with_audit_read_and_change_with_org_write(floor, acme, alice, api, make_key) -> None:
    _, reader = make_key(alice, acme, ["audit:read"])
    _, writer = make_key(alice, acme, ["org:write"])
    assert api(key=reader).get(URL).status_code == 200
    assert api(key=reader).put(URL, {"retention_days": 365}, format="json").status_code == 403
    assert api(key=writer).get(URL).status_code == 403
    assert api(key=writer).put(URL, {"retention_days": 365}, format="json").status_code == 200


def test_another_organisation_is_the_same_404(floor, carol, api) -> None:
    response = api(carol).put(URL, {"retention_days": 0}, format="json")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="audit.retention_changed").exists()
