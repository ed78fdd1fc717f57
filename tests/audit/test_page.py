"""The Audit page (/o/<org>/audit/): the API's filters and cursor, for owners and admins only."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from audit import services as audit
from audit.models import AuditEvent
from tenancy import services


def page_url(org: str = "acme") -> str:
    return reverse("audit-page", kwargs={"org_slug": org})


def shown(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-event="(\d+)"', html)]


@pytest.fixture
def events(acme, alice, bob) -> list[AuditEvent]:
    return [audit.record(org=acme, actor=bob if n % 2 else alice, action=f"thing.n{n}") for n in range(5)]


def test_owner_sees_the_trail_newest_first_with_the_nav_link(client: Client, alice, events) -> None:
    client.force_login(alice)
    html = client.get(page_url()).content.decode()
    assert shown(html) == [event.pk for event in reversed(events)]
    assert 'href="/o/acme/audit/" aria-current="page">Audit</a>' in html


def test_filters_and_export_link_carry_the_same_query(client: Client, alice, events) -> None:
    client.force_login(alice)
    html = client.get(page_url(), {"actor": "bob"}).content.decode()
    assert shown(html) == [events[3].pk, events[1].pk]
    assert 'href="/api/v1/orgs/acme/audit/export/?actor=bob" download' in html


def test_load_more_returns_the_next_rows_and_the_next_button(client: Client, alice, events) -> None:
    client.force_login(alice)
    first = client.get(page_url(), {"page_size": 2}).content.decode()
    next_url = re.search(r'hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert next_url.startswith("/o/acme/audit/?")  # relative: right behind a TLS proxy too

    more = client.get(next_url, HTTP_HX_REQUEST="true").content.decode()

    assert shown(more) == [events[2].pk, events[1].pk]
    assert "<html" not in more
    assert "Load more" in more


def test_changes_show_as_before_and_after(client: Client, acme, alice) -> None:
    services.organization_update(org=acme, actor=alice, name="Acme <Corp>")
    client.force_login(alice)
    html = client.get(page_url(), {"action": "org."}).content.decode()
    assert '<th scope="row">name</th><td>Acme</td><td>Acme &lt;Corp&gt;</td>' in html


def test_blank_fields_of_the_form_filter_nothing(client: Client, alice, events) -> None:
    client.force_login(alice)
    blank = dict.fromkeys(["actor", "action", "target_type", "target_id", "since", "until"], "")
    assert shown(client.get(page_url(), blank).content.decode()) == [event.pk for event in reversed(events)]


def test_a_bad_time_is_a_400_with_the_reason(client: Client, alice, events) -> None:
    client.force_login(alice)
    response = client.get(page_url(), {"since": "soon"})
    assert response.status_code == 400
    assert "since:" in response.content.decode()


@pytest.mark.parametrize("role", ["member", "viewer", "approver"])
def test_members_below_admin_get_403_and_no_nav_link(client: Client, member_with_role, events, role) -> None:
    client.force_login(member_with_role(role))
    assert client.get(page_url()).status_code == 403
    assert ">Audit</a>" not in client.get(reverse("account-keys", kwargs={"org_slug": "acme"})).content.decode()


def test_another_organisation_is_404(client: Client, carol, events) -> None:
    client.force_login(carol)
    assert client.get(page_url("acme")).status_code == 404


def test_changes_and_the_other_facts_of_an_event_show_side_by_side(client: Client, acme, alice) -> None:
    payload = {"version": 3, "changes": {"name": {"before": "A", "after": "B"}}}
    audit.record(org=acme, actor=alice, action="preset.updated", payload=payload)
    client.force_login(alice)
    html = client.get(page_url()).content.decode()
    assert '<th scope="row">name</th><td>A</td><td>B</td>' in html
    assert '<code class="audit-payload">{&quot;version&quot;: 3}</code>' in html
