"""The audit admin: the API's filters, before/after tables, and links from objects to their trail."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit import services as audit
from audit.models import AuditEvent
from audit.seals import seal_heads
from audit.verification import record_run
from audit.verify import verify
from conversations.models import Conversation
from presets.services import lifecycle
from tenancy import services
from tenancy.models import Membership, User
from tests.presets_world import make_preset

CHANGELIST = "admin:audit_auditevent_changelist"


@pytest.fixture
def staff(client: Client, alice: User) -> Client:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    return client


def listed(client: Client, query: str) -> list[int]:
    response = client.get(reverse(CHANGELIST) + query)
    assert response.status_code == 200
    return sorted(event.pk for event in response.context["cl"].result_list)


@pytest.fixture
def events(acme, alice, bob) -> list[AuditEvent]:
    return [
        audit.record(org=acme, actor=alice, action="preset.created", target=acme),
        audit.record(org=acme, actor=bob, action="preset.updated", target=acme),
        audit.record(org=acme, actor=bob, action="team.created", target=bob),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?actor=bob", [1, 2]),
        ("?action=preset.", [0, 1]),
        ("?action=preset.created", [0]),
        ("?target_type=tenancy.user&actor=bob", [2]),  # the staff sign-in targets a user too
        ("?actor=bob&action=preset.", [1]),
    ],
)
def test_changelist_filters_as_the_api_does(staff, events, query, expected) -> None:
    # The staff fixture's own sign-in (`auth.signed_in`, targeting alice) is no part of the case.
    signed_in = set(AuditEvent.objects.filter(action="auth.signed_in").values_list("pk", flat=True))
    assert [pk for pk in listed(staff, query) if pk not in signed_in] == sorted(events[i].pk for i in expected)


def test_target_id_and_time_range_filters(staff, events, bob) -> None:
    assert listed(staff, f"?target_type=tenancy.user&target_id={bob.pk}") == [events[2].pk]
    since = events[1].created_at.isoformat().replace("+00:00", "Z")
    assert listed(staff, f"?since={since}&action=preset.") == [events[1].pk]


def test_a_bad_time_is_refused_like_any_bad_admin_lookup(staff, events) -> None:
    response = staff.get(reverse(CHANGELIST) + "?since=soon")
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def test_typed_filters_keep_the_others_in_their_forms(staff, events) -> None:
    page = staff.get(reverse(CHANGELIST) + "?actor=bob").content.decode()
    assert 'name="actor" value="bob"' in page
    assert '<input type="hidden" name="actor" value="bob">' in page  # inside the other filters' forms


def test_change_page_shows_before_and_after(staff, acme, alice) -> None:
    services.organization_update(org=acme, actor=alice, name="Acme <Corp>")
    event = AuditEvent.objects.get(action="org.updated")

    page = staff.get(reverse("admin:audit_auditevent_change", args=[event.pk])).content.decode()

    assert "<th scope='row'>name</th><td><pre>Acme</pre></td><td><pre>Acme &lt;Corp&gt;</pre></td>" in page


def test_a_preset_update_shows_its_nested_changes(staff, acme, alice) -> None:
    preset = make_preset(acme, alice, "tides", description="old")
    lifecycle.preset_update(preset=preset, actor=alice, description="new")
    event = AuditEvent.objects.get(action="preset.updated")
    page = staff.get(reverse("admin:audit_auditevent_change", args=[event.pk])).content.decode()
    assert "<th scope='row'>description</th><td><pre>old</pre></td><td><pre>new</pre></td>" in page


def test_an_event_without_changes_shows_none(staff, events) -> None:
    page = staff.get(reverse("admin:audit_auditevent_change", args=[events[0].pk])).content.decode()
    assert "audit-changes" not in page


def trail_link(client: Client, admin_name: str, obj: Any) -> str:
    page = client.get(reverse(admin_name, args=[obj.pk])).content.decode()
    assert page.count('class="audit-trail-link"') == 1, page
    start = page.index('href="', page.index("audit-trail-link") - 200)
    return page[start + 6 : page.index('"', start + 6)].replace("&amp;", "&")


def test_objects_link_to_their_trail(staff, acme, alice, bob, make_key) -> None:
    preset = make_preset(acme, alice, "tides")
    membership = Membership.objects.get(org=acme, user=bob)
    api_key, _ = make_key(alice, acme, ["org:read"])
    conversation = Conversation.objects.create(org=acme, user=alice, title="Hi")
    for admin_name, obj in [
        ("admin:presets_preset_change", preset),
        ("admin:tenancy_membership_change", membership),
        ("admin:tenancy_apikey_change", api_key),
        ("admin:conversations_conversation_change", conversation),
    ]:
        url = trail_link(staff, admin_name, obj)
        assert url == reverse(CHANGELIST) + f"?target_type={obj._meta.label_lower}&target_id={obj.pk}"
        shown = staff.get(url).context["cl"].result_list
        assert all((e.target_type, e.target_id) == (obj._meta.label_lower, str(obj.pk)) for e in shown)


def test_a_preset_trail_lists_its_creation(staff, acme, alice) -> None:
    preset = make_preset(acme, alice, "tides")
    url = trail_link(staff, "admin:presets_preset_change", preset)
    assert [e.action for e in staff.get(url).context["cl"].result_list] == ["preset.created"]


def test_changes_beside_other_facts_show_as_a_table_too(staff, acme, alice) -> None:
    event = audit.record(
        org=acme,
        actor=alice,
        action="team.member_updated",
        payload={"user": "bob", "is_lead": {"before": False, "after": True}},
    )
    page = staff.get(reverse("admin:audit_auditevent_change", args=[event.pk])).content.decode()
    assert "<th scope='row'>is_lead</th><td><pre>False</pre></td><td><pre>True</pre></td>" in page


@pytest.mark.parametrize("model", ["auditchainhead", "auditseal", "auditverification"])
def test_chain_heads_seals_and_verification_runs_are_listed_read_only(
    staff: Client, acme, alice, settings, model: str
) -> None:
    settings.AUDIT_SIGNING_KEY = "admin-test-key"
    audit.record(org=acme, actor=alice, action="preset.created", target=acme)
    seal_heads()
    record_run(verify())
    changelist = staff.get(reverse(f"admin:audit_{model}_changelist"))
    assert changelist.status_code == 200
    rows = list(changelist.context["cl"].result_list)
    assert rows
    detail = staff.get(reverse(f"admin:audit_{model}_change", args=[rows[0].pk]))
    assert detail.status_code == 200
    assert not detail.context["has_change_permission"]
    assert staff.get(reverse(f"admin:audit_{model}_add")).status_code == 403
    assert staff.post(reverse(f"admin:audit_{model}_delete", args=[rows[0].pk]), {"post": "yes"}).status_code == 403
    assert type(rows[0]).objects.filter(pk=rows[0].pk).exists()
