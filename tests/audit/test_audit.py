"""The audit trail: who, what, where from; append-only in the ORM and in PostgreSQL itself."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from audit import services as audit
from audit.models import AppendOnlyError, AuditEvent


@pytest.fixture
def event(acme, alice) -> AuditEvent:
    return audit.record(org=acme, actor=alice, action="test.happened", target=acme, payload={"a": 1})


def test_record_snapshots_actor_and_target(event, acme, alice) -> None:
    assert (event.org, event.actor_user, event.actor_label) == (acme, alice, "alice")
    assert (event.target_type, event.target_id) == ("tenancy.organization", str(acme.pk))


def test_api_change_records_ip_request_id_and_key(api, alice, acme, make_key) -> None:
    api_key, secret = make_key(alice, acme, ["org:write"])
    response = api(key=secret).post(
        reverse("team-list", kwargs={"org_slug": "acme"}),
        {"name": "Ops", "slug": "ops"},
        format="json",
        HTTP_X_REQUEST_ID="req-42",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 201
    event = AuditEvent.objects.get(action="team.created")
    assert (event.ip, event.request_id, event.actor_api_key_id) == ("203.0.113.9", "req-42", api_key.pk)


def test_orm_refuses_update_and_delete(event) -> None:
    event.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()


@pytest.mark.parametrize("sql", ["UPDATE audit_auditevent SET action = 'rewritten'", "DELETE FROM audit_auditevent"])
def test_database_refuses_raw_update_and_delete(event, sql) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == "test.happened"


def test_admin_shows_events_read_only(client, event, alice) -> None:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    changelist = client.get(reverse("admin:audit_auditevent_changelist") + "?action=test.happened")
    assert changelist.status_code == 200
    assert b"test.happened" in changelist.content
    detail = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert client.post(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
