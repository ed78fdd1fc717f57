"""The generated OpenAPI schema, and checks that a real request or answer is what it documents."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker

from tests.api_docs import response_body


@cache
def generated_schema() -> dict[str, Any]:
    """The schema /api/v1/schema/ serves, as JSON data (generated once per test process)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def operation(path: str, method: str) -> dict[str, Any]:
    return generated_schema()["paths"][path][method.lower()]


def documented_response(path: str, method: str, status: int, media: str = "application/json") -> dict[str, Any]:
    """The schema of one documented answer; a KeyError names an undocumented status or media type."""
    responses = operation(path, method)["responses"]
    assert str(status) in responses, f"{method} {path} does not document {status}: {sorted(responses)}"
    content = responses[str(status)]["content"]
    assert media in content, f"{method} {path} {status} documents {sorted(content)}, not {media}"
    return content[media]["schema"]


def _with_components(schema: dict[str, Any]) -> dict[str, Any]:
    # `#/components/...` references resolve against the root of the schema being validated.
    return {**schema, "components": generated_schema()["components"]}


def assert_answer_matches(schema: dict[str, Any], body: Any) -> None:
    OAS30ReadValidator(_with_components(schema), format_checker=oas30_format_checker).validate(body)


def assert_request_matches(path: str, method: str, body: Any) -> None:
    schema = operation(path, method)["requestBody"]["content"]["application/json"]["schema"]
    OAS30WriteValidator(_with_components(schema), format_checker=oas30_format_checker).validate(body)


def assert_documented(path: str, method: str, response: Any) -> Any:
    """The JSON answer, after checking its status and body are the documented ones."""
    body = json.loads(response_body(response))
    assert_answer_matches(documented_response(path, method, response.status_code), body)
    return body


def assert_event_matches(schema: dict[str, Any], name: str | None, data: str) -> None:
    """One server-sent event as Schemathesis reads it (`{"event", "data"}`), then its JSON payload."""
    assert_answer_matches(schema, {"event": name or "message", "data": data})
    if data != "[DONE]":
        assert_answer_matches(schema["properties"]["data"]["x-contentSchema"], json.loads(data))


def server_sent_events(response: Any) -> list[tuple[str | None, str]]:
    """(event name or None, data) for each event of a `text/event-stream` answer."""
    events = []
    for block in response_body(response).decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields.get("event"), fields["data"]))
    return events
