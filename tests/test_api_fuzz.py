"""Schemathesis over the whole /api/v1/schema/ against a live daphne: no input yields a 5xx, and every
answer, refusal or not, matches the schema.

The fast profile (the default, in `make test`) has a fixed seed and a few examples per operation;
`SCHEMATHESIS_PROFILE=long` runs many more and adds the stateful phase. The owner's key has every
scope and the path ids name real objects of a seeded organisation, so cases get past auth and the
404 of an unknown id (tests/test_hostile_input.py sends odd ids to every route).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.schemas import BaseSchema

from tenancy import services as tenancy_services
from tenancy.permissions import Scope
from tests.conversations.conftest import server_env
from tests.routes import World, build_world
from tests.server import RUN_SUMMARY, daphne

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]

PROFILE = os.environ.get("SCHEMATHESIS_PROFILE", "fast")

# status_code_conformance is pending: the schema documents only each operation's success status
# until the schema-wide error responses (401, 403, 404, 409, 429…) are in it.
CHECKS = [
    "not_a_server_error",
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
    "fast": {"max-examples": 6, "coverage": False, "stateful": False},
    "long": {"max-examples": 100, "coverage": True, "stateful": True},
}


def object_ids(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    """Path parameters naming seeded objects, by (method, path). DELETE keeps fuzzed ids, so the
    objects every other operation needs survive the run."""
    org = "/api/v1/orgs/{org_slug}"
    presets = world.presets
    preset = {"id": str(presets.own.pk)}
    child = {"preset_id": str(presets.own.pk)}
    team = {"team_id": str(world.team.pk)}
    return {
        ("GET|PATCH", f"{org}/api-keys/{{id}}/"): {"id": str(world.own_key.pk)},
        ("GET|PATCH", f"{org}/conversations/{{id}}/"): {"id": str(world.conversation.pk)},
        ("GET|POST", f"{org}/conversations/{{id}}/(context|export|preset)/"): {"id": str(world.conversation.pk)},
        ("GET|PATCH|PUT", f"{org}/libraries/{{id}}/(items/)?"): {"id": str(presets.library.pk)},
        ("GET|PATCH", f"{org}/members/{{id}}/"): {"id": str(world.target.pk)},
        ("GET|PATCH", f"{org}/presets/{{id}}/"): preset,
        ("POST", f"{org}/presets/{{id}}/(clone|revert)/"): preset,
        ("POST", f"{org}/presets/{{id}}/(approve|reject)/"): {"id": str(presets.pending.pk)},
        ("POST", f"{org}/presets/{{id}}/restore/"): {"id": str(presets.trashed.pk)},
        ("POST", f"{org}/presets/{{id}}/submit/"): {"id": str(presets.draft.pk)},
        ("GET|POST", f"{org}/presets/{{preset_id}}/(links|shares|versions)/.*"): child,
        ("GET|PATCH", f"{org}/teams/{{id}}/"): {"id": str(world.team.pk)},
        ("GET|POST", f"{org}/teams/{{team_id}}/members/"): team,
        ("GET|PATCH", f"{org}/teams/{{team_id}}/members/{{user_id}}/"): {**team, "user_id": str(world.target.user_id)},
    }


def fuzz_config(*, base: str, secret: str, world: World) -> SchemathesisConfig:
    profile = PROFILES[PROFILE]
    generation = {"mode": "all", "max-examples": profile["max-examples"], "deterministic": True}
    operations = [
        {"include-method-regex": f"^({methods})$", "include-path-regex": f"^{path}$", "parameters": ids}
        for (methods, path), ids in object_ids(world).items()
    ]
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261202,
            "base-url": base,
            "headers": {"Authorization": f"Bearer {secret}"},
            "parameters": {"path.org_slug": world.org.slug},
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


def test_no_input_breaks_the_server_or_the_schema(request, fake_server, acme, alice, tmp_path) -> None:
    world = build_world(acme, alice)
    _, secret = tenancy_services.api_key_create(
        org=acme, actor=alice, name="fuzz", scopes=[scope.value for scope in Scope], expires_at=None
    )
    env = server_env(fake_server, API_THROTTLE_USER_RATE="1000000/min")
    with daphne(env, log=tmp_path / "daphne.log") as base:
        config = fuzz_config(base=base, secret=secret, world=world)
        run = fuzz(schemathesis.openapi.from_url(f"{base}/api/v1/schema/", config=config))
    summary = f"schemathesis: {run.cases} cases over {len(run.operations)} operations ({PROFILE} profile)"
    request.config.stash.setdefault(RUN_SUMMARY, []).append(summary)
    assert run.cases > len(run.operations) > 60
    assert not run.failures, run.report()
