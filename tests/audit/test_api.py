"""GET /api/v1/orgs/<org>/audit/: owners, admins and `audit:read` keys read their own trail only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from audit import services as audit
from audit.api.serializers import AuditEventSerializer
from audit.models import AuditEvent
from tenancy.key_use import USED_TODAY
from tenancy.models import Organization, User
from tests.api_docs import response_body


def trail_url(org: str = "acme", name: str = "audit-event-list") -> str:
    return reverse(name, kwargs={"org_slug": org})


def write(org: Organization, actor: User | None, action: str, target: Any = None, **payload: Any) -> AuditEvent:
    return audit.record(org=org, actor=actor, action=action, target=target, payload=payload)


@pytest.fixture
def trail(acme, globex, alice, bob, carol) -> list[AuditEvent]:
    """Five Acme events (oldest first) and one Globex event."""
    write(globex, carol, "preset.created", globex)
    return [
        write(acme, alice, "preset.created", acme, n=1),
        write(acme, bob, "preset.updated", acme, n=2),
        write(acme, alice, "member.added", bob, n=3),
        write(acme, None, "org.settings_changed", acme, n=4),
        write(acme, bob, "preset.deleted", acme, n=5),
    ]


def results(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def ids(events: list[AuditEvent]) -> list[int]:
    return [event.pk for event in reversed(events)]  # newest first


def test_owner_reads_own_trail_newest_first_in_the_documented_shape(api, alice, trail) -> None:
    response = api(alice).get(trail_url())

    assert results(response) == ids(trail)
    member_added = next(row for row in response.json()["results"] if row["action"] == "member.added")
    assert member_added["actor"] == {"id": alice.pk, "label": "alice"}
    assert member_added["target"] == {"type": "tenancy.user", "id": str(trail[2].target_id)}
    assert member_added["payload"] == {"n": 3}
    assert {"created_at", "api_key", "ip", "request_id", "seq", "prev_hash", "hash"} <= member_added.keys()


def test_system_events_have_no_actor(api, alice, trail) -> None:
    rows = api(alice).get(trail_url(), {"action": "org.settings_changed"}).json()["results"]
    assert [row["actor"] for row in rows] == [None]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "bob"}, [1, 4]),
        ({"action": "preset.created"}, [0]),
        ({"action": "preset."}, [0, 1, 4]),
        ({"action": "preset"}, []),  # exact unless it ends with "."
        ({"target_type": "tenancy.user"}, [2]),
        ({"action": "preset.", "actor": "alice"}, [0]),
    ],
)
def test_filters_narrow_the_trail(api, alice, trail, params, expected) -> None:
    assert results(api(alice).get(trail_url(), params)) == ids([trail[i] for i in expected])


def test_actor_filter_takes_a_user_id_too(api, alice, bob, trail) -> None:
    assert results(api(alice).get(trail_url(), {"actor": str(bob.pk)})) == ids([trail[1], trail[4]])


def test_target_id_filter(api, alice, bob, trail) -> None:
    response = api(alice).get(trail_url(), {"target_type": "tenancy.user", "target_id": str(bob.pk)})
    assert results(response) == ids([trail[2]])


def test_time_range_is_since_included_until_excluded(api, alice, trail) -> None:
    since, until = trail[1].created_at.isoformat(), trail[3].created_at.isoformat()
    assert results(api(alice).get(trail_url(), {"since": since, "until": until})) == ids(trail[1:3])


@pytest.mark.parametrize(
    "params",
    [{"since": "yesterday"}, {"until": "2026-13-40T00:00:00Z"}, {"since": ""}, {"page_size": "0"}, {"cursor": "x"}],
)
def test_bad_filter_values_are_400_with_a_code(api, alice, trail, params) -> None:
    response = api(alice).get(trail_url(), params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert next(iter(params)) in response.json()["error"]["details"]["fields"]


def test_cursor_pages_walk_the_whole_trail_without_overlap(api, alice, trail) -> None:
    client, seen = api(alice), []
    url = trail_url() + "?page_size=2"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == ids(trail)


def test_an_event_written_while_paging_does_not_shift_the_next_page(api, alice, acme, trail) -> None:
    client = api(alice)
    first = client.get(trail_url(), {"page_size": 2}).json()
    write(acme, alice, "preset.created", acme)
    second = client.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == ids(trail)[2:4]


def test_another_orgs_trail_is_404_and_never_listed(api, alice, carol, trail) -> None:
    assert api(carol).get(trail_url("acme")).status_code == 404
    assert api(carol).get(trail_url("acme", "audit-event-export")).status_code == 404
    assert api(alice).get(trail_url("globex")).status_code == 404
    listed = api(alice).get(trail_url(), {"actor": "carol"}).json()["results"]
    _, exported = export(api(alice), actor="carol")
    assert listed == exported == []


@pytest.mark.parametrize("role", ["member", "approver", "viewer"])
def test_members_below_admin_are_refused(api, member_with_role, trail, role) -> None:
    client = api(member_with_role(role))
    for name in ("audit-event-list", "audit-event-export"):
        response = client.get(trail_url(name=name))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_admin_reads_the_trail(api, member_with_role, trail) -> None:
    assert results(api(member_with_role("admin")).get(trail_url())) == ids(trail)


def test_a_key_needs_the_audit_read_scope(api, alice, acme, make_key, trail) -> None:
    _, without = make_key(alice, acme, ["org:read", "org:write"])
    _, reader = make_key(alice, acme, ["audit:read"], name="reader")

    assert api(key=without).get(trail_url()).status_code == 403
    shown = results(api(key=reader).get(trail_url()))
    # Newer than the trail: the two keys' creation, the refusal, and each key's first use today.
    newer = AuditEvent.objects.filter(pk__in=shown[: len(shown) - len(trail)]).values_list("action", flat=True)
    assert sorted(newer) == sorted(["api_key.created"] * 2 + ["access.denied"] + [USED_TODAY] * 2)
    assert shown[len(shown) - len(trail) :] == ids(trail)


def test_a_members_key_with_the_scope_is_still_refused(api, bob, acme, make_key, trail) -> None:
    _, secret = make_key(bob, acme, ["audit:read"])
    assert api(key=secret).get(trail_url()).status_code == 403


def test_events_written_with_a_key_show_its_prefix(api, alice, acme, make_key) -> None:
    api_key, secret = make_key(alice, acme, ["org:write", "audit:read"])
    assert api(key=secret).post(reverse("team-list", kwargs={"org_slug": "acme"}), {"name": "Ops", "slug": "ops"})
    rows = api(alice).get(trail_url(), {"action": "team.created"}).json()["results"]
    assert rows[0]["api_key"] == {"id": str(api_key.pk), "prefix": api_key.prefix}


def export(client: Any, **params: Any) -> tuple[Any, list[dict[str, Any]]]:
    response = client.get(trail_url(name="audit-event-export"), params)
    body = response_body(response) if response.status_code == 200 else b""
    return response, [json.loads(line) for line in body.decode().splitlines()]


def test_export_streams_json_lines_in_the_list_shape(api, alice, trail) -> None:
    client = api(alice)
    listed = client.get(trail_url(), {"actor": "bob"}).json()["results"]

    response, lines = export(client, actor="bob")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    assert lines == listed


def test_export_walks_past_one_batch_in_order(api, alice, acme, monkeypatch) -> None:
    monkeypatch.setattr("audit.selectors.EXPORT_BATCH", 3)
    written = [write(acme, alice, "bulk.event", acme, n=n) for n in range(8)]
    _, lines = export(api(alice), action="bulk.event")
    assert [line["id"] for line in lines] == ids(written)


def test_export_is_recorded_as_a_sensitive_read(api, alice, acme, trail) -> None:
    export(api(alice), action="preset.", since="2020-01-01T00:00:00Z")

    event = AuditEvent.objects.for_org(acme).get(action="audit.exported")
    assert event.actor_user == alice
    assert event.payload == {"filters": {"action": "preset.", "since": "2020-01-01T00:00:00Z"}}


def test_a_refused_or_bad_export_records_nothing(api, alice, bob, trail) -> None:
    export(api(bob))
    response, _ = export(api(alice), since="soon")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_chain_fields_are_shown_when_the_event_has_them(acme, alice) -> None:
    event = write(acme, alice, "preset.created")
    event.seq = event.prev_hash = event.hash = None  # as an event written before the chain existed
    assert AuditEventSerializer(event).data["hash"] is None  # null, not an error
    event.seq, event.prev_hash, event.hash = 7, b"\x00\xab", "c0ffee"
    shown = AuditEventSerializer(event).data
    assert (shown["seq"], shown["prev_hash"], shown["hash"]) == (7, "00ab", "c0ffee")


def test_an_export_with_a_key_is_recorded_with_the_key(api, alice, acme, make_key) -> None:
    api_key, secret = make_key(alice, acme, ["audit:read"])
    response, _ = export(api(key=secret))
    assert response.status_code == 200
    assert AuditEvent.objects.get(action="audit.exported").actor_api_key_id == api_key.pk
