"""The retention section of the Audit page: everyone who reads the trail sees what is in force, owners
change it (htmx or a plain form post) under the API's rules."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditChainHead, AuditEvent

PAGE = reverse("audit-page", kwargs={"org_slug": "acme"})
FORM = reverse("audit-retention-page", kwargs={"org_slug": "acme"})
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def floor(settings) -> None:
    settings.AUDIT_RETENTION_DAYS = 90


def kept(acme) -> int | None:
    head = AuditChainHead.objects.filter(pk=str(acme.pk)).first()
    return head.retention_days if head else None


def test_owner_sees_the_default_and_the_form(client: Client, alice) -> None:
    client.force_login(alice)
    html = client.get(PAGE).content.decode()
    assert "older than 90 days are removed by a daily purge" in html
    assert "(the service's default)" in html
    assert f'action="{FORM}"' in html
    assert 'min="0" max="36500"' in html


def test_an_admin_sees_the_retention_but_no_form(client: Client, member_with_role) -> None:
    client.force_login(member_with_role("admin"))
    html = client.get(PAGE).content.decode()
    assert "older than 90 days" in html
    assert FORM not in html
    assert client.post(FORM, {"retention_days": "400"}).status_code == 403


def test_htmx_change_swaps_the_section_and_is_audited(client: Client, acme, alice) -> None:
    client.force_login(alice)
    response = client.post(FORM, {"retention_days": "0"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('<section id="retention"')
    assert "Events are kept forever." in html
    assert kept(acme) == 0
    assert AuditEvent.objects.filter(org=acme, action="audit.retention_changed", actor_user=alice).count() == 1


def test_a_blank_field_returns_to_the_default_after_a_plain_post(client: Client, acme, alice) -> None:
    client.force_login(alice)
    assert client.post(FORM, {"retention_days": "365"}).status_code == 302
    assert kept(acme) == 365
    response = client.post(FORM, {"retention_days": ""})
    assert (response.status_code, response["Location"]) == (302, PAGE)
    assert kept(acme) is None


REFUSED = [("30", "minimum retention"), ("soon", "valid integer"), ("-4", "greater than")]


@pytest.mark.parametrize(("value", "message"), REFUSED)
def test_a_refused_value_is_shown_next_to_the_form(client: Client, acme, alice, value, message) -> None:
    client.force_login(alice)
    swapped = client.post(FORM, {"retention_days": value}, **HTMX)
    whole = client.post(FORM, {"retention_days": value})
    assert swapped.status_code == whole.status_code == 400
    for html in (swapped.content.decode(), whole.content.decode()):
        assert "data-form-error" in html
        assert message in html.lower()
    assert "audit-rows" in whole.content.decode()  # the whole page, trail and all
    assert kept(acme) is None
