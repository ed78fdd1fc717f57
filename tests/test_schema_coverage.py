"""The OpenAPI schema lists every API route with the methods it serves, and is a valid OpenAPI 3 document.

Routes are found by walking Django's resolver, so a new route (DRF or a plain async view) that the
schema does not describe fails here; plain views declare their methods with `plain.accepts`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate
from rest_framework.schemas.generators import EndpointEnumerator

from conversations.api.plain import accepts
from tests.openapi_check import generated_schema

API_PREFIXES = ("/api/v1/", "/v1/")
SELF_DOCUMENTING = {"schema", "docs"}  # the schema and Swagger UI routes
NOT_OPERATIONS = {"HEAD", "OPTIONS"}  # answered on every route; OpenAPI lists neither here


def api_routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """(OpenAPI path, pattern) for every URL pattern under the API prefixes."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        regex = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, regex)
            continue
        # DRF's own regex-to-path conversion; the schema generator names `pk` after the model's `id`.
        path = EndpointEnumerator().get_path_from_regex(regex).replace("{pk}", "{id}")
        if path.startswith(API_PREFIXES) and pattern.name not in SELF_DOCUMENTING:
            yield path, pattern


def served_methods(view: Callable[..., Any]) -> set[str] | None:
    """The methods a view declares: a viewset's actions, an APIView's handlers, a plain view's `accepts`."""
    if actions := getattr(view, "actions", None):
        methods = {method.upper() for method in actions}
    elif cls := getattr(view, "cls", None):
        methods = set(cls().allowed_methods)
    elif declared := getattr(view, "http_methods", None):
        methods = set(declared)
    else:
        return None
    return methods - NOT_OPERATIONS


def undocumented(schema: dict[str, Any]) -> list[str]:
    """Each route, or route and method, that is served but missing from `schema`, or documented but not served."""
    problems = []
    for path, pattern in api_routes():
        methods = served_methods(pattern.callback)
        documented = {method.upper() for method in schema["paths"].get(path, {})}
        if methods is None:
            problems.append(f"{path} ({pattern.name}): the view declares no methods (use plain.accepts)")
        elif not documented:
            problems.append(f"{path} ({pattern.name}): not in the schema")
        elif methods != documented:
            problems.append(f"{path} ({pattern.name}): serves {sorted(methods)}, documents {sorted(documented)}")
    return problems


def test_every_api_route_and_method_is_in_the_schema() -> None:
    paths = {path for path, _ in api_routes()}
    assert {"/v1/chat/completions", "/v1/models", "/api/v1/orgs/{org_slug}/conversations/{id}/messages/"} <= paths
    assert undocumented(generated_schema()) == []


def test_a_route_missing_from_the_schema_is_reported() -> None:
    schema = generated_schema()
    paths = {path: item for path, item in schema["paths"].items() if path != "/v1/models"}
    messages = "/api/v1/orgs/{org_slug}/conversations/{id}/messages/"
    paths[messages] = {"post": paths[messages]["post"]}  # GET left out
    problems = undocumented({**schema, "paths": paths})
    assert any(problem.startswith("/v1/models (openai-models): not in the schema") for problem in problems)
    assert f"{messages} (conversation-messages): serves ['GET', 'POST'], documents ['POST']" in problems


def test_plain_views_declare_their_methods() -> None:
    @accepts("GET", "POST")
    async def view(request: Any) -> Any:
        raise AssertionError("not called")

    assert served_methods(view) == {"GET", "POST"}
    assert served_methods(lambda request: None) is None


def test_the_schema_is_a_valid_openapi_document() -> None:
    validate(generated_schema())  # raises OpenAPIValidationError with the path of the first fault


@pytest.mark.django_db
def test_the_served_schema_is_the_generated_one(client) -> None:
    served = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    assert served.json()["paths"].keys() == generated_schema()["paths"].keys()
