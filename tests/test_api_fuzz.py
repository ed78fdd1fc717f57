"""Schemathesis over the whole /api/v1/schema/ against a live daphne: no input yields a 5xx, and every
answer, refusal or not, matches the schema.

The fast profile (the default, in `make test`) has a fixed seed and a few examples per operation;
`SCHEMATHESIS_PROFILE=long` runs many more and adds the coverage and stateful phases
(`SCHEMATHESIS_MAX_EXAMPLES=n` changes the number per operation of either). The owner's key has every
scope and the path ids name real objects of a seeded organisation, so cases get past auth and the
404 of an unknown id (tests/test_hostile_input.py sends odd ids to every route).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.schemas import BaseSchema

from chatpresets.llm.catalogue import default_model
from tenancy import services as tenancy_services
from tenancy.permissions import Scope
from tests.conversations.conftest import server_env
from tests.routes import World, build_world
from tests.server import RUN_SUMMARY, daphne

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]

PROFILE = os.environ.get("SCHEMATHESIS_PROFILE", "fast")
# A cursor as the trail's pages encode it (DRF's base64 query string): events before the year 2999.
AUDIT_CURSOR = base64.b64encode(urlencode({"p": "2999-01-01 00:00:00+00:00"}).encode()).decode()

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "use_after_free",
    "ensure_resource_availability",
]
PROFILES: dict[str, dict[str, Any]] = {
    "fast": {"max-examples": 6, "coverage": False, "stateful": False, "timeout": 300},
    "long": {"max-examples": 100, "coverage": True, "stateful": True, "timeout": 3 * 3600},
}


def object_ids(world: World) -> dict[str, dict[str, Any]]:
    """Path parameters naming seeded objects, by a regex of the operation's label. DELETE keeps
    fuzzed ids, so the objects every other operation needs survive the run."""
    org = "/api/v1/orgs/{org_slug}"
    presets = world.presets
    preset = {"id": str(presets.own.pk)}
    team = {"team_id": str(world.team.pk)}
    conversation = {"id": str(world.conversation.pk)}
    return {
        f"GET {org}/api-keys/{{id}}/": {"id": str(world.own_key.pk)},
        f"(GET|PATCH) {org}/conversations/{{id}}/": conversation,
        f"(GET|POST) {org}/conversations/{{id}}/(context|export|preset|messages|regenerate|edit)/": conversation,
        f"(GET|PATCH|PUT) {org}/libraries/{{id}}/(items/)?": {"id": str(presets.library.pk)},
        f"(GET|PATCH) {org}/members/{{id}}/": {"id": str(world.target.pk)},
        f"(GET|PATCH) {org}/presets/{{id}}/": preset,
        f"POST {org}/presets/{{id}}/(clone|revert)/": preset,
        f"POST {org}/presets/{{id}}/(approve|reject)/": {"id": str(presets.pending.pk)},
        f"POST {org}/presets/{{id}}/restore/": {"id": str(presets.trashed.pk)},
        f"POST {org}/presets/{{id}}/submit/": {"id": str(presets.draft.pk)},
        f"(GET|POST) {org}/presets/{{preset_id}}/(analytics|links|shares|versions)/.*": {
            "preset_id": str(presets.own.pk)
        },
        # `staging` exists on `own`, whose versions 1 and 2 are approved (a private preset's are, as written).
        f"(GET|PUT) {org}/presets/{{preset_id}}/labels/.*": {
            "preset_id": str(presets.own.pk),
            "name": "staging",
            "body.version": 2,
        },
        f"(GET|PATCH) {org}/teams/{{id}}/": {"id": str(world.team.pk)},
        f"(GET|PATCH) {org}/experiments/{{id}}/": {"id": str(world.experiments.draft.pk)},
        f"GET {org}/experiments/{{id}}/results/": {"id": str(world.experiments.running.pk)},
        f"POST {org}/experiments/{{id}}/(start|pause|stop)/": {"id": str(world.experiments.running.pk)},
        f"(GET|POST) {org}/presets/{{preset_id}}/(replays|prompt-sets)/": {"preset_id": str(world.replays.preset.pk)},
        f"(GET|POST) {org}/presets/{{preset_id}}/replays/{{id}}/(cancel/)?": {
            "preset_id": str(world.replays.preset.pk),
            "id": str(world.replays.queued.pk),
        },
        f"(GET|PATCH) {org}/presets/{{preset_id}}/prompt-sets/{{id}}/": {
            "preset_id": str(world.replays.preset.pk),
            "id": str(world.replays.prompt_set.pk),
        },
        f"(GET|PATCH) {org}/webhooks/{{id}}/": {"id": str(world.webhook.pk)},
        f"GET {org}/webhooks/{{webhook_id}}/deliveries/": {"webhook_id": str(world.webhook.pk)},
        f"POST {org}/webhooks/{{webhook_id}}/deliveries/{{id}}/resend/": {
            "webhook_id": str(world.webhook.pk),
            "id": str(world.delivery.pk),
        },
        f"(GET|POST) {org}/teams/{{team_id}}/members/": team,
        f"(GET|PATCH) {org}/teams/{{team_id}}/members/{{user_id}}/": {**team, "user_id": str(world.target.user_id)},
        # Cross-field rules the schema cannot state: someone outside the organisation joins it, a
        # team preset names its team, a conversation's variables are the preset's, a key expires later.
        f"POST {org}/members/": {"body.user": {"dictionary": "outsiders"}},
        f"(POST|PATCH) {org}/presets/({{id}}/)?": {
            "body.scope": "team",
            "body.team": str(world.team.pk),
            "body.model": default_model(),  # a dictionary is only a hint; a model it lacks is refused
        },
        f"(POST|PATCH) {org}/libraries/({{id}}/)?": {"body.kind": "team", "body.team": str(world.team.pk)},
        # A conversation follows a label of its preset only: without a preset the label is refused.
        f"POST {org}/conversations/": {
            "body.variables": {},
            "body.model_override": default_model(),
            "body.preset_label": "",
        },
        f"POST {org}/api-keys/": {"body.expires_at": {"dictionary": "future"}},
        # A cursor is opaque (the server's own encoding): a made-up one is a 400, as documented.
        f"GET {org}/audit/": {"query.cursor": {"dictionary": "cursors"}},
    }


def named_objects(world: World) -> dict[str, dict[str, list[str]]]:
    """Values for body fields that name an object (a model, a preset, a team, a member): the schema
    cannot list them, so a fuzzed name would only ever test the "unknown" refusal."""
    return {
        "models": {"values": [default_model()]},
        "presets": {"values": [str(world.presets.own.pk)]},
        "teams": {"values": [str(world.team.pk)]},
        "members": {"values": [world.spare.username]},
        "outsiders": {"values": [world.outsider.username]},
        "future": {"values": ["2999-01-01T00:00:00Z"]},
        "cursors": {"values": [AUDIT_CURSOR]},
        # A target the SSRF rules accept without DNS (an address literal), never sent to in tests.
        "webhook_urls": {"values": ["https://93.184.215.14/hook"]},
    }


NAMED_FIELDS = {
    "body.model": "models",
    "body.model_override": "models",
    "body.preset": "presets",
    "body.presets[*]": "presets",
    "body.team": "teams",
    "body.user": "members",
    "body.url": "webhook_urls",
}


def fuzz_config(*, base: str, secret: str, world: World) -> SchemathesisConfig:
    profile = PROFILES[PROFILE]
    examples = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", profile["max-examples"]))
    # Reproducible: a fixed seed, and no example database or cache carried from one run to the next.
    generation = {"mode": "all", "max-examples": examples, "deterministic": True, "database": "none"}
    parameters = {"path.org_slug": world.org.slug}
    parameters |= {field: {"dictionary": name} for field, name in NAMED_FIELDS.items()}
    # An operation's own parameters replace the global ones, so each carries them too.
    operations = [
        {"include-name-regex": f"^{label}$", "parameters": {**parameters, **values}}
        for label, values in object_ids(world).items()
    ]
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261202,
            "cache": {"enabled": False},
            "base-url": base,
            "headers": {"Authorization": f"Bearer {secret}"},
            "parameters": parameters,
            "dictionaries": named_objects(world),
            "generation": generation,
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": profile["coverage"]},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": profile["stateful"]},
            },
            "operations": operations,
        }
    )


@dataclass
class FuzzRun:
    """What the run sent and what broke: each distinct failure once, with a curl line to replay it."""

    cases: int = 0
    operations: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)

    def report(self) -> str:
        return "\n\n".join(f"{key}\n{detail}" for key, detail in sorted(self.failures.items()))

    def record(self, recorder: ScenarioRecorder) -> None:
        self.cases += len(recorder.cases)
        self.operations.add(recorder.label)
        for checks in recorder.checks.values():
            for check in checks:
                if check.status == Status.FAILURE and check.failure_info is not None:
                    failure = check.failure_info.failure
                    key = f"{recorder.label}: {check.name}: {failure.title}"
                    self.failures.setdefault(key, f"{failure.message}\n{check.failure_info.code_sample}")


def fuzz(schema: BaseSchema) -> FuzzRun:
    """All phases of the configured profile, as `st run` would; fatal errors end the test."""
    run = FuzzRun()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            run.record(event.recorder)
        elif isinstance(event, events.NonFatalError):
            run.failures[f"{event.label}: error"] = event.info.format()
        elif isinstance(event, events.FatalError):
            raise event.exception
    return run


@pytest.mark.timeout(PROFILES[PROFILE]["timeout"])
def test_no_input_breaks_the_server_or_the_schema(request, fake_server, acme, alice, tmp_path) -> None:
    world = build_world(acme, alice)
    _, secret = tenancy_services.api_key_create(
        org=acme, actor=alice, name="fuzz", scopes=[scope.value for scope in Scope], expires_at=None
    )
    env = server_env(fake_server, API_THROTTLE_USER_RATE="1000000/min")
    log = tmp_path / "daphne.log"
    with daphne(env, log=log) as base:
        config = fuzz_config(base=base, secret=secret, world=world)
        run = fuzz(schemathesis.openapi.from_url(f"{base}/api/v1/schema/", config=config))
    summary = f"schemathesis: {run.cases} cases over {len(run.operations)} operations ({PROFILE} profile)"
    request.config.stash.setdefault(RUN_SUMMARY, []).append(summary)
    assert run.cases > len(run.operations) > 60
    assert not run.failures, f"{run.report()}\n\nThe server's log, with tracebacks: {log}"
