"""Every operation in /api/v1/schema/ lists the error statuses it can answer, in the one error shape."""

from __future__ import annotations

import jsonschema
import pytest

from tests.openapi_schema import schema

ALWAYS = {"400", "401", "403", "429", "503"}
PLAIN_VIEWS = ("/messages/", "/regenerate/", "/edit/")
METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS = [(path, method) for path, item in schema()["paths"].items() for method in METHODS if method in item]


def error_schema() -> dict:
    components = schema()["components"]["schemas"]
    # A self-contained JSON Schema: the component with its nested component inlined.
    error = dict(components["Error"])
    error["properties"] = {"error": components["ErrorDetail"]}
    return error


def test_the_schema_has_operations() -> None:
    assert len(OPERATIONS) > 50


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=lambda value: value)
def test_each_operation_documents_its_error_statuses(path: str, method: str) -> None:
    responses = schema()["paths"][path][method]["responses"]
    expected = set(ALWAYS)
    if "{" in path:
        expected.add("404")
    if method in ("post", "put", "patch"):
        expected.add("413")
        if path.startswith("/api/v1/") and not path.endswith(PLAIN_VIEWS):
            expected.add("415")  # DRF's parsers refuse other content types; the plain views read JSON as 400

    assert expected <= set(responses), sorted(expected - set(responses))
    # OpenAI's clients read `type` and `param`; a refusal before the view (a NUL in the query) has neither.
    shapes = {"OpenAIError", "Error"} if path.startswith("/v1/") else {"Error"}
    for status in expected:
        content = responses[status]["content"]["application/json"]["schema"]
        assert content["$ref"].removeprefix("#/components/schemas/") in shapes, (status, content)
    assert "Retry-After" in responses["429"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]


def test_a_real_error_body_matches_the_error_component(api, acme, member_with_role) -> None:
    owner = member_with_role("owner")
    client = api(owner)
    answers = [
        client.get(f"/api/v1/orgs/{acme.slug}/presets/00000000-0000-0000-0000-000000000000/"),
        client.post(f"/api/v1/orgs/{acme.slug}/teams/", {"name": ""}, format="json"),
        api(None).get("/api/v1/me/"),
        client.post(f"/api/v1/orgs/{acme.slug}/teams/", "name=x", content_type="text/plain"),
    ]

    assert [answer.status_code for answer in answers] == [404, 400, 401, 415]
    for answer in answers:
        jsonschema.validate(answer.json(), error_schema())


def test_the_error_component_refuses_another_shape() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"detail": "Not found."}, error_schema())
