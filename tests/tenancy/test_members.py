"""Members: added by username or e-mail, roles changed, removed; owners are protected."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from chatpresets.errors import Forbidden, LastOwner
from tenancy import services
from tenancy.models import Membership, Role, TeamMembership
from tests.factories import MembershipFactory, UserFactory


def members_url() -> str:
    return reverse("member-list", kwargs={"org_slug": "acme"})


def member_url(membership: Membership) -> str:
    return reverse("member-detail", kwargs={"org_slug": "acme", "pk": membership.pk})


@pytest.mark.parametrize("identifier", ["dora", "DORA@example.com"])
def test_admin_adds_member_by_username_or_email(api, alice, acme, identifier) -> None:
    UserFactory(username="dora", email="dora@example.com")
    response = api(alice).post(members_url(), {"user": identifier, "role": "approver"}, format="json")
    assert response.status_code == 201
    assert response.json()["user"]["username"] == "dora"
    assert Membership.objects.get(org=acme, user__username="dora").role == Role.APPROVER
    event = AuditEvent.objects.get(action="member.added")
    assert (event.org, event.actor_user, event.payload) == (acme, alice, {"user": "dora", "role": "approver"})


def test_adding_unknown_user_is_400_naming_the_field(api, alice, acme) -> None:
    response = api(alice).post(members_url(), {"user": "nobody"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["user"] == [
        "No active user with that username or e-mail address."
    ]


def test_adding_existing_member_is_409(api, alice, bob) -> None:
    response = api(alice).post(members_url(), {"user": "bob"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_exists"


def test_admin_cannot_grant_or_touch_the_owner_role(api, alice, acme) -> None:
    admin = MembershipFactory(org=acme, role=Role.ADMIN).user
    UserFactory(username="dora")
    grant = api(admin).post(members_url(), {"user": "dora", "role": "owner"}, format="json")
    assert grant.status_code == 403
    alice_membership = alice.memberships.get(org=acme)
    demote = api(admin).patch(member_url(alice_membership), {"role": "member"}, format="json")
    assert demote.status_code == 403
    assert api(admin).delete(member_url(alice_membership)).status_code == 403
    assert Membership.objects.get(pk=alice_membership.pk).role == Role.OWNER


def test_owner_can_promote_another_owner_and_then_step_down(api, alice, bob, acme) -> None:
    bob_membership = bob.memberships.get(org=acme)
    assert api(alice).patch(member_url(bob_membership), {"role": "owner"}, format="json").status_code == 200
    alice_membership = alice.memberships.get(org=acme)
    response = api(alice).patch(member_url(alice_membership), {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    event = AuditEvent.objects.filter(action="member.role_changed").first()
    assert event.payload == {"user": "alice", "role": {"before": "owner", "after": "admin"}}


def test_last_owner_can_be_neither_demoted_nor_removed(api, alice, acme) -> None:
    membership = alice.memberships.get(org=acme)
    demote = api(alice).patch(member_url(membership), {"role": "admin"}, format="json")
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"
    assert api(alice).delete(member_url(membership)).status_code == 409
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_invalid_role_is_400(api, alice, bob, acme) -> None:
    response = api(alice).patch(member_url(bob.memberships.get(org=acme)), {"role": "god"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()["error"]["details"]["fields"]


def test_removing_member_drops_team_memberships_and_group(api, alice, bob, acme, team) -> None:
    assert team.group.user_set.filter(pk=bob.pk).exists()
    assert api(alice).delete(member_url(bob.memberships.get(org=acme))).status_code == 204
    assert not TeamMembership.objects.filter(user=bob).exists()
    assert not team.group.user_set.filter(pk=bob.pk).exists()
    assert AuditEvent.objects.filter(action="member.removed", payload__user="bob").count() == 1


def test_put_is_not_allowed_and_answers_405(api, alice, bob, acme) -> None:
    response = api(alice).put(member_url(bob.memberships.get(org=acme)), {"role": "viewer"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(acme) -> None:
    first, second = UserFactory(), UserFactory()
    memberships = [MembershipFactory(org=acme, user=u, role=Role.OWNER) for u in (first, second)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor, target) -> None:
        barrier.wait()
        try:
            services.member_change_role(membership=target, actor=actor, role=Role.MEMBER)
            outcomes.append("demoted")
        except (LastOwner, Forbidden):  # the loser is either the last owner or no owner any more
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, Membership.objects.get(pk=memberships[1].pk))),
        threading.Thread(target=demote, args=(second, Membership.objects.get(pk=memberships[0].pk))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["demoted", "refused"]
    assert Membership.objects.filter(org=acme, role=Role.OWNER).count() == 1
