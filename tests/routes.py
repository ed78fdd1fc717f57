"""Every tenant route, with a ready-made call and the roles the docs say may make it.

The role matrix and isolation tests both walk this catalogue, and test_isolation fails when a
URL pattern with an organisation in it is missing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatpresets.llm.catalogue import default_model
from conversations.models import Conversation, Message
from presets.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenancy.models import ApiKey, Membership, Organization, Role, Team, User
from tests.experiments_world import ExperimentWorld, build_experiment_world
from tests.factories import MembershipFactory, TeamFactory, TeamMembershipFactory, UserFactory
from tests.presets_world import PresetWorld, build_preset_world
from tests.replays_world import ReplayWorld, build_replay_world

ALL_ROLES = frozenset(Role.values)
OWNERS = frozenset({Role.OWNER})
ADMINS = frozenset({Role.OWNER, Role.ADMIN})
WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.APPROVER, Role.MEMBER})
REVIEWERS = frozenset({Role.OWNER, Role.ADMIN, Role.APPROVER})
CHATTERS = WRITERS


@dataclass
class World:
    """Objects of one organisation that a call can address."""

    org: Organization
    caller: User
    target: Membership
    team: Team
    spare: User
    outsider: User
    own_key: ApiKey
    presets: PresetWorld
    conversation: Conversation
    experiments: ExperimentWorld
    webhook: WebhookEndpoint
    delivery: WebhookDelivery
    replays: ReplayWorld


def build_world(org: Organization, caller: User) -> World:
    from tenancy import services

    target_user = UserFactory()
    target = MembershipFactory(org=org, user=target_user, role=Role.MEMBER)
    team = TeamFactory(org=org)
    TeamMembershipFactory(team=team, user=target_user)
    spare = MembershipFactory(org=org, role=Role.MEMBER).user
    own_key, _ = services.api_key_create(org=org, actor=caller, name="own", scopes=["org:read"], expires_at=None)
    return World(
        org=org,
        caller=caller,
        target=target,
        team=team,
        spare=spare,
        outsider=UserFactory(),
        own_key=own_key,
        presets=build_preset_world(org, caller, spare),
        conversation=_conversation_with_one_exchange(org, caller),
        experiments=build_experiment_world(org, caller),
        **_webhook_with_one_delivery(org),
        replays=build_replay_world(org, caller),
    )


def _webhook_with_one_delivery(org: Organization) -> dict[str, Any]:
    """Written directly: a loopback URL the SSRF rules refuse at every attempt, so no call here
    reaches the network (a resend is logged as a refused attempt)."""
    webhook = WebhookEndpoint.objects.create(
        org=org, url="http://127.0.0.1:9/hook", events=["experiment.promoted"], secret="whsec_c2VjcmV0"
    )
    delivery = WebhookDelivery.objects.create(
        org=org, endpoint=webhook, message_id="msg_1", event="experiment.promoted", payload={"data": {}}
    )
    return {"webhook": webhook, "delivery": delivery}


def _conversation_with_one_exchange(org: Organization, user: User) -> Conversation:
    conversation = Conversation.objects.create(org=org, user=user, title="Hello")
    for seq, role in ((1, "user"), (2, "assistant")):
        Message.objects.create(org=org, conversation=conversation, seq=seq, role=role, content="Hi", token_count=5)
    return conversation


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    kwargs: Callable[[World], dict[str, Any]]
    allowed: frozenset[str]
    body: Callable[[World], dict[str, Any]] | None = None
    addresses_object: bool = field(default=False)
    query: str = ""
    invisible_to: frozenset[str] = frozenset()  # roles that may not even see the object: 404, not 403
    page: bool = False  # a browser page: the anonymous are sent to sign in, not answered 401

    @property
    def body_format(self) -> str:
        """Pages read HTML forms; the API reads JSON."""
        return "multipart" if self.page else "json"

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name}"


def org(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug}


def member(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.target.pk}


def team(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.team.pk}


def team_members(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "team_id": w.team.pk}


def team_member(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "team_id": w.team.pk, "user_id": w.target.user_id}


def api_key(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.own_key.pk}


def webhook(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.webhook.pk}


def webhook_deliveries(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "webhook_id": w.webhook.pk}


def webhook_delivery(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "webhook_id": w.webhook.pk, "pk": w.delivery.pk}


def webhook_delivery_page(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.webhook.pk, "delivery_id": w.delivery.pk}


# A public address literal, so creating one needs no DNS; no test emits the event it subscribes to.
WEBHOOK_BODY = {"url": "https://93.184.215.14/hook", "events": ["experiment.promoted"]}


def preset(w: World, which: str = "own") -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": getattr(w.presets, which).pk}


def preset_child(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "preset_id": w.presets.own.pk}


def version(number: int) -> Callable[[World], dict[str, Any]]:
    return lambda w: {**preset_child(w), "number": number}


def label(w: World) -> dict[str, Any]:
    return {**preset_child(w), "name": "staging"}


def share(w: World) -> dict[str, Any]:
    return {**preset_child(w), "principal": f"user-{w.spare.pk}"}


def link(w: World) -> dict[str, Any]:
    return {**preset_child(w), "pk": w.presets.link.pk}


def library(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.presets.library.pk}


def preset_link(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.presets.own.pk, "link_id": w.presets.link.pk}


def preset_grant(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.presets.own.pk, "principal": f"user-{w.spare.pk}"}


def experiment(which: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"org_slug": w.org.slug, "pk": getattr(w.experiments, which).pk}


def experiment_body(w: World) -> dict[str, Any]:
    other, preset = w.experiments.other, w.experiments.preset
    variants = [
        {"name": "a", "version": 1, "weight": 1},
        {"name": "b", "preset": str(preset.pk), "version": 1, "weight": 1},
    ]
    return {"name": "New", "preset": str(other.pk), "variants": variants}


def replayed(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "preset_id": w.replays.preset.pk}


def replay(w: World) -> dict[str, Any]:
    return {**replayed(w), "pk": w.replays.queued.pk}


def prompt_set(w: World) -> dict[str, Any]:
    return {**replayed(w), "pk": w.replays.prompt_set.pk}


REPLAY_BODY = {"token_budget": 5000, "turns": 5}
REPLAY_CALLS = [
    Call("preset-replay-list", "get", replayed, REVIEWERS, addresses_object=True),
    Call("preset-replay-list", "post", replayed, REVIEWERS, body=lambda w: REPLAY_BODY, addresses_object=True),
    Call("preset-replay-detail", "get", replay, REVIEWERS, addresses_object=True),
    Call("preset-replay-cancel", "post", replay, REVIEWERS, addresses_object=True),
    Call("preset-prompt-set-list", "get", replayed, ALL_ROLES, addresses_object=True),
    Call(
        "preset-prompt-set-list",
        "post",
        replayed,
        WRITERS,
        body=lambda w: {"name": "New", "prompts": ["Hi?"]},
        addresses_object=True,
    ),
    Call("preset-prompt-set-detail", "get", prompt_set, ALL_ROLES, addresses_object=True),
    Call(
        "preset-prompt-set-detail",
        "patch",
        prompt_set,
        WRITERS,
        body=lambda w: {"prompts": ["Hi?", "Why?"]},
        addresses_object=True,
    ),
    Call("preset-prompt-set-detail", "delete", prompt_set, WRITERS, addresses_object=True),
    Call("preset-replays-page", "get", replayed, REVIEWERS, addresses_object=True, page=True),
    Call(
        "replay-start-page", "post", replayed, REVIEWERS, body=lambda w: REPLAY_BODY, addresses_object=True, page=True
    ),
    Call("replay-page", "get", replay, REVIEWERS, addresses_object=True, page=True),
    Call("replay-cancel-page", "post", replay, REVIEWERS, addresses_object=True, page=True),
    Call(
        "prompt-set-create-page",
        "post",
        replayed,
        WRITERS,
        body=lambda w: {"name": "New", "prompts": "Hi?\nWhy?"},
        addresses_object=True,
        page=True,
    ),
    Call("prompt-set-delete-page", "post", prompt_set, WRITERS, addresses_object=True, page=True),
]


def experiment_form(w: World) -> dict[str, Any]:
    """experiment_body as the experiments page's form posts it."""
    body = experiment_body(w)
    rows = {
        f"variant-{i}-{key}": str(value) for i, row in enumerate(body.pop("variants")) for key, value in row.items()
    }
    return {**body, **rows}


def conversation(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.conversation.pk}


def answer(w: World) -> dict[str, Any]:
    message = w.conversation.messages.get(role="assistant")
    return {"org_slug": w.org.slug, "pk": w.conversation.pk, "message_id": message.pk}


PRESET_BODY = {"name": "New", "slug": "new-preset", "system_prompt": "Be brief."}


PRESET_FORM = {"name": "Paged", "slug": "paged", "system_prompt": "Be brief.", "scope": "private"}
PRESET_PAGES = [
    Call("presets-page", "get", org, ALL_ROLES, page=True),
    Call("presets-trash-page", "get", org, WRITERS, page=True),
    Call("preset-new-page", "get", org, WRITERS, page=True),
    Call("preset-new-page", "post", org, WRITERS, body=lambda w: {**PRESET_FORM, "model": default_model()}, page=True),
    Call(
        "preset-token-count-page",
        "post",
        org,
        WRITERS,
        body=lambda w: {"system_prompt": "Be brief.", "model": default_model()},
        page=True,
    ),
    Call("presets-review-page", "get", org, WRITERS, page=True),
    Call("preset-page", "get", preset, ALL_ROLES, addresses_object=True, page=True),
    Call("preset-analytics-page", "get", preset, ALL_ROLES, addresses_object=True, page=True),
    Call("preset-edit-page", "get", preset, WRITERS, addresses_object=True, page=True),
    Call(
        "preset-edit-page",
        "post",
        preset,
        WRITERS,
        body=lambda w: {**PRESET_FORM, "slug": w.presets.own.slug, "model": default_model()},
        addresses_object=True,
        page=True,
    ),
    Call("preset-diff-page", "get", preset, ALL_ROLES, addresses_object=True, query="?a=1&b=2", page=True),
    Call(
        "preset-revert-page", "post", preset, WRITERS, body=lambda w: {"version": 1}, addresses_object=True, page=True
    ),
    Call("preset-clone-page", "post", preset, WRITERS, body=lambda w: {}, addresses_object=True, page=True),
    Call("preset-delete-page", "post", preset, WRITERS, addresses_object=True, page=True),
    Call("preset-restore-page", "post", lambda w: preset(w, "trashed"), WRITERS, addresses_object=True, page=True),
    Call("preset-submit-page", "post", lambda w: preset(w, "draft"), WRITERS, addresses_object=True, page=True),
    Call(
        "preset-approve-page",
        "post",
        lambda w: preset(w, "pending"),
        REVIEWERS,
        body=lambda w: {"version": 1},
        addresses_object=True,
        invisible_to=frozenset({Role.MEMBER}),
        page=True,
    ),
    Call(
        "preset-reject-page",
        "post",
        lambda w: preset(w, "pending"),
        REVIEWERS,
        body=lambda w: {"version": 1, "comment": "no"},
        addresses_object=True,
        invisible_to=frozenset({Role.MEMBER}),
        page=True,
    ),
    Call("preset-share-page", "get", preset, WRITERS, addresses_object=True, page=True),
    Call(
        "preset-grant-page",
        "post",
        preset,
        WRITERS,
        body=lambda w: {"user": w.spare.username, "level": "edit"},
        addresses_object=True,
        page=True,
    ),
    Call("preset-ungrant-page", "post", preset_grant, WRITERS, addresses_object=True, page=True),
    Call("preset-link-create-page", "post", preset, WRITERS, body=lambda w: {}, addresses_object=True, page=True),
    Call("preset-link-revoke-page", "post", preset_link, WRITERS, addresses_object=True, page=True),
    Call(
        "preset-library-page",
        "post",
        preset,
        WRITERS,
        body=lambda w: {"library": str(w.presets.library.pk)},
        addresses_object=True,
        page=True,
    ),
    Call(
        "preset-label-move-page",
        "post",
        preset,
        WRITERS,
        body=lambda w: {"name": "staging", "version": 2},
        addresses_object=True,
        page=True,
    ),
    Call(
        "preset-label-delete-page",
        "post",
        lambda w: {**preset(w), "name": "staging"},
        WRITERS,
        addresses_object=True,
        page=True,
    ),
]

CALLS: list[Call] = [
    Call("org-detail", "get", org, ALL_ROLES),
    Call("org-detail", "patch", org, ADMINS, body=lambda w: {"name": "Renamed"}),
    Call("member-list", "get", org, ALL_ROLES),
    Call("member-list", "post", org, ADMINS, body=lambda w: {"user": w.outsider.username, "role": "member"}),
    Call("member-detail", "get", member, ALL_ROLES, addresses_object=True),
    Call("member-detail", "patch", member, ADMINS, body=lambda w: {"role": "viewer"}, addresses_object=True),
    Call("member-detail", "delete", member, ADMINS, addresses_object=True),
    Call("team-list", "get", org, ALL_ROLES),
    Call("team-list", "post", org, ADMINS, body=lambda w: {"name": "New team", "slug": "new-team"}),
    Call("team-detail", "get", team, ALL_ROLES, addresses_object=True),
    Call("team-detail", "patch", team, ADMINS, body=lambda w: {"description": "changed"}, addresses_object=True),
    Call("team-detail", "delete", team, ADMINS, addresses_object=True),
    Call("team-member-list", "get", team_members, ALL_ROLES, addresses_object=True),
    Call(
        "team-member-list",
        "post",
        team_members,
        ADMINS,
        body=lambda w: {"user": w.spare.username},
        addresses_object=True,
    ),
    Call("team-member-detail", "get", team_member, ALL_ROLES, addresses_object=True),
    Call("team-member-detail", "patch", team_member, ADMINS, body=lambda w: {"is_lead": True}, addresses_object=True),
    Call("team-member-detail", "delete", team_member, ADMINS, addresses_object=True),
    Call("api-key-list", "get", org, ALL_ROLES),
    Call("api-key-list", "post", org, ALL_ROLES, body=lambda w: {"name": "k", "scopes": ["org:read"]}),
    Call("api-key-detail", "get", api_key, ALL_ROLES, addresses_object=True),
    Call("api-key-detail", "delete", api_key, ALL_ROLES, addresses_object=True),
    Call("org-home", "get", org, ALL_ROLES, page=True),
    Call("chat-new", "get", org, ALL_ROLES, page=True),
    Call("chat", "get", conversation, CHATTERS, addresses_object=True, page=True),
    Call("account-usage", "get", org, ALL_ROLES, page=True),
    Call("account-keys", "get", org, ALL_ROLES, page=True),
    Call("account-keys", "post", org, ALL_ROLES, body=lambda w: {"name": "k", "scopes": ["org:read"]}, page=True),
    Call("account-key-revoke", "post", api_key, ALL_ROLES, addresses_object=True, page=True),
    Call("account-members", "get", org, ADMINS, page=True),
    Call("audit-page", "get", org, ADMINS, page=True),
    Call("audit-retention-page", "post", org, OWNERS, body=lambda w: {"retention_days": "400"}, page=True),
    Call("webhooks-page", "get", org, ADMINS, page=True),
    Call("webhooks-page", "post", org, ADMINS, body=lambda w: WEBHOOK_BODY, page=True),
    Call("webhook-delete-page", "post", webhook, ADMINS, addresses_object=True, page=True),
    Call("webhook-resend-page", "post", webhook_delivery_page, ADMINS, addresses_object=True, page=True),
    Call("account-members", "post", org, ADMINS, body=lambda w: {"user": w.outsider.username}, page=True),
    Call(
        "account-member-role",
        "post",
        member,
        ADMINS,
        body=lambda w: {"role": "viewer"},
        addresses_object=True,
        page=True,
    ),
    Call("account-member-remove", "post", member, ADMINS, addresses_object=True, page=True),
    Call("account-team-create", "post", org, ADMINS, body=lambda w: {"name": "New team"}, page=True),
    Call(
        "account-team-rename",
        "post",
        team_members,
        ADMINS,
        body=lambda w: {"name": "Renamed"},
        addresses_object=True,
        page=True,
    ),
    Call(
        "account-team-member-add",
        "post",
        team_members,
        ADMINS,
        body=lambda w: {"user": w.spare.username},
        addresses_object=True,
        page=True,
    ),
    Call(
        "account-team-member-lead",
        "post",
        team_member,
        ADMINS,
        body=lambda w: {"is_lead": "true"},
        addresses_object=True,
        page=True,
    ),
    Call("account-team-member-remove", "post", team_member, ADMINS, addresses_object=True, page=True),
    Call("chat-messages", "get", conversation, CHATTERS, addresses_object=True, page=True, query="?before_seq=3"),
    Call("chat-context", "get", conversation, CHATTERS, addresses_object=True, page=True),
    Call("chat-picker", "get", org, CHATTERS, page=True, query="?q=own"),
    Call("chat-start", "post", org, CHATTERS, body=lambda w: {"preset": ""}, page=True),
    Call("chat-sidebar", "get", org, CHATTERS, page=True, query="?q=Hel"),
    Call("chat-rename", "get", conversation, CHATTERS, addresses_object=True, page=True),
    Call(
        "chat-rename", "post", conversation, CHATTERS, body=lambda w: {"title": "T"}, addresses_object=True, page=True
    ),
    Call("chat-delete", "post", conversation, CHATTERS, addresses_object=True, page=True),
    Call("chat-upgrade", "post", conversation, CHATTERS, body=lambda w: {}, addresses_object=True, page=True),
    Call("preset-list", "get", org, ALL_ROLES),
    # A preset must name a model of the catalogue in use (the fake model's, under `fake_llm`).
    Call("preset-list", "post", org, WRITERS, body=lambda w: {**PRESET_BODY, "model": default_model()}),
    Call("preset-detail", "get", preset, ALL_ROLES, addresses_object=True),
    Call("preset-detail", "patch", preset, WRITERS, body=lambda w: {"description": "x"}, addresses_object=True),
    Call("preset-detail", "delete", preset, WRITERS, addresses_object=True),
    Call("preset-trash", "get", org, WRITERS),
    Call("preset-restore", "post", lambda w: preset(w, "trashed"), WRITERS, addresses_object=True),
    Call("preset-clone", "post", preset, WRITERS, body=lambda w: {}, addresses_object=True),
    Call("preset-review-queue", "get", org, WRITERS),
    Call("preset-review-submit", "post", lambda w: preset(w, "draft"), WRITERS, addresses_object=True),
    Call(
        "preset-review-approve",
        "post",
        lambda w: preset(w, "pending"),
        REVIEWERS,
        body=lambda w: {"version": 1},
        addresses_object=True,
        invisible_to=frozenset({Role.MEMBER}),
    ),
    Call(
        "preset-review-reject",
        "post",
        lambda w: preset(w, "pending"),
        REVIEWERS,
        body=lambda w: {"version": 1, "comment": "no"},
        addresses_object=True,
        invisible_to=frozenset({Role.MEMBER}),
    ),
    Call("preset-review-revert", "post", preset, WRITERS, body=lambda w: {"version": 1}, addresses_object=True),
    Call("preset-version-list", "get", preset_child, ALL_ROLES, addresses_object=True),
    Call("preset-analytics-list", "get", preset_child, ALL_ROLES, addresses_object=True),
    Call("preset-version-detail", "get", version(1), ALL_ROLES, addresses_object=True),
    Call("preset-version-diff", "get", version(2), ALL_ROLES, addresses_object=True, query="?against=1"),
    Call("preset-label-list", "get", preset_child, ALL_ROLES, addresses_object=True),
    Call("preset-label-detail", "get", label, ALL_ROLES, addresses_object=True),
    Call("preset-label-detail", "put", label, WRITERS, body=lambda w: {"version": 2}, addresses_object=True),
    Call("preset-label-detail", "delete", label, WRITERS, addresses_object=True),
    Call("preset-share-list", "get", preset_child, WRITERS, addresses_object=True),
    Call(
        "preset-share-list",
        "post",
        preset_child,
        WRITERS,
        body=lambda w: {"user": w.spare.username, "level": "view"},
        addresses_object=True,
    ),
    Call("preset-share-detail", "delete", share, WRITERS, addresses_object=True),
    Call("preset-link-list", "get", preset_child, WRITERS, addresses_object=True),
    Call("preset-link-list", "post", preset_child, WRITERS, body=lambda w: {}, addresses_object=True),
    Call("preset-link-detail", "delete", link, WRITERS, addresses_object=True),
    Call("library-list", "get", org, ALL_ROLES),
    Call("library-list", "post", org, WRITERS, body=lambda w: {"name": "Mine"}),
    Call("library-detail", "get", library, ALL_ROLES, addresses_object=True),
    Call("library-detail", "patch", library, WRITERS, body=lambda w: {"name": "Renamed"}, addresses_object=True),
    Call("library-detail", "delete", library, WRITERS, addresses_object=True),
    Call(
        "library-items",
        "put",
        library,
        WRITERS,
        body=lambda w: {"presets": [str(w.presets.own.pk)]},
        addresses_object=True,
    ),
    Call("conversation-list", "get", org, CHATTERS),
    Call("conversation-list", "post", org, CHATTERS, body=lambda w: {"title": "New chat"}),
    Call("conversation-detail", "get", conversation, CHATTERS, addresses_object=True),
    Call("conversation-detail", "patch", conversation, CHATTERS, body=lambda w: {"title": "T"}, addresses_object=True),
    Call("conversation-detail", "delete", conversation, CHATTERS, addresses_object=True),
    Call(
        "conversation-preset",
        "post",
        conversation,
        CHATTERS,
        body=lambda w: {"preset": str(w.presets.own.pk)},
        addresses_object=True,
    ),
    Call("conversation-context", "get", conversation, CHATTERS, addresses_object=True),
    Call("conversation-messages", "get", conversation, CHATTERS, addresses_object=True),
    Call(
        "conversation-messages", "post", conversation, CHATTERS, body=lambda w: {"content": "Hi"}, addresses_object=True
    ),
    Call("conversation-regenerate", "post", conversation, CHATTERS, body=lambda w: {}, addresses_object=True),
    Call("conversation-edit", "post", conversation, CHATTERS, body=lambda w: {"content": "Hey"}, addresses_object=True),
    Call("conversation-export", "get", conversation, CHATTERS, addresses_object=True),
    Call("message-feedback", "get", answer, CHATTERS, addresses_object=True),
    Call("message-feedback", "put", answer, CHATTERS, body=lambda w: {"vote": "up"}, addresses_object=True),
    Call("message-feedback", "delete", answer, CHATTERS, addresses_object=True),
    Call("usage-list", "get", org, ADMINS),
    Call("experiment-list", "get", org, ALL_ROLES),
    Call("experiment-list", "post", org, WRITERS, body=experiment_body),
    Call("experiment-detail", "get", experiment("draft"), ALL_ROLES, addresses_object=True),
    Call(
        "experiment-detail",
        "patch",
        experiment("draft"),
        WRITERS,
        body=lambda w: {"name": "Renamed"},
        addresses_object=True,
    ),
    Call("experiment-detail", "delete", experiment("draft"), WRITERS, addresses_object=True),
    Call("experiment-start", "post", experiment("draft"), REVIEWERS, addresses_object=True),
    Call("experiment-pause", "post", experiment("running"), REVIEWERS, addresses_object=True),
    Call("experiment-stop", "post", experiment("running"), REVIEWERS, addresses_object=True),
    Call(
        "experiment-promote",
        "post",
        experiment("running"),
        REVIEWERS,
        body=lambda w: {"variant": "b"},
        addresses_object=True,
    ),
    Call("experiment-results", "get", experiment("running"), ALL_ROLES, addresses_object=True),
    Call("experiments-page", "get", org, ALL_ROLES, page=True),
    Call("experiment-create-page", "post", org, WRITERS, body=experiment_form, page=True),
    Call("experiment-page", "get", experiment("running"), ALL_ROLES, addresses_object=True, page=True),
    Call(
        "experiment-act-page",
        "post",
        experiment("running"),
        REVIEWERS,
        body=lambda w: {"action": "pause"},
        addresses_object=True,
        page=True,
    ),
    Call("audit-event-list", "get", org, ADMINS),
    Call("audit-event-export", "get", org, ADMINS),
    Call("audit-retention", "get", org, ADMINS),
    Call("audit-retention", "put", org, OWNERS, body=lambda w: {"retention_days": 400}),
    Call("webhook-list", "get", org, ADMINS),
    Call("webhook-list", "post", org, ADMINS, body=lambda w: WEBHOOK_BODY),
    Call("webhook-detail", "get", webhook, ADMINS, addresses_object=True),
    Call("webhook-detail", "patch", webhook, ADMINS, body=lambda w: {"description": "CI"}, addresses_object=True),
    Call("webhook-detail", "delete", webhook, ADMINS, addresses_object=True),
    Call("webhook-delivery-list", "get", webhook_deliveries, ADMINS, addresses_object=True),
    Call("webhook-delivery-resend", "post", webhook_delivery, ADMINS, addresses_object=True),
    *PRESET_PAGES,
    *REPLAY_CALLS,
]

ROUTE_NAMES = {call.name for call in CALLS}
