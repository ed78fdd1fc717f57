"""Odd input never becomes a 500: every route gets each class a schema fuzzer found breaking one.

The classes: an id that matches the old loose URL pattern but is not a UUID (404), a NUL byte in
the query string (400) and in every string of the body (400), JSON nested 100,000 deep (400), and
OPTIONS (DRF's metadata, 200). Tenant routes come from tests/routes.py, so a new route is covered.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from tests.routes import CALLS, Call, build_world

pytestmark = pytest.mark.usefixtures("fake_llm")  # chat routes call the model

# 31 hex digits and a hyphen: the old `[0-9a-fA-F-]{32,36}` URL pattern took it, uuid.UUID does not.
NOT_A_UUID = "a6232c7D8D3DdE294-f4DaCf00CFf4ab"
UUID_IN_PATH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEEP_JSON = "[" * 100_000
NUL_QUERY = "q=%00&updated_after=%00&cursor=%00&against=%00&page_size=%00&ordering=%00&tag=%00"


def with_nul(value: Any) -> Any:
    """The body with a NUL appended to every string in it, nested ones included."""
    if isinstance(value, str):
        return value + "\x00"
    if isinstance(value, list):
        return [with_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: with_nul(item) for key, item in value.items()}
    return value


def has_string(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_string(item) for item in value.values())
    if isinstance(value, list):
        return any(has_string(item) for item in value)
    return isinstance(value, str)


def send(client: Any, method: str, url: str, **kwargs: Any) -> int:
    return getattr(client, method)(url, **kwargs).status_code


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_no_route_answers_odd_input_with_a_server_error(call: Call, acme, alice, api) -> None:
    world = build_world(acme, alice)
    client = api(alice)
    client.raise_request_exception = False
    path = reverse(call.name, kwargs=call.kwargs(world))
    body = call.body(world) if call.body else {}
    seen: dict[str, int] = {"OPTIONS": send(client, "options", path)}
    if UUID_IN_PATH.search(path):
        seen["non-UUID id"] = send(client, call.method, UUID_IN_PATH.sub(NOT_A_UUID, path) + call.query)
    if call.body is not None and not call.page:  # routes that read no JSON body never parse it
        seen["deep JSON"] = send(client, call.method, path, data=DEEP_JSON, content_type="application/json")
    if has_string(body):
        seen["NUL in body"] = send(client, call.method, path + call.query, data=with_nul(body), format=call.body_format)
    query = f"{call.query}&{NUL_QUERY}" if call.query else f"?{NUL_QUERY}"
    seen["NUL in query"] = send(client, call.method, path + query, data=body, format="json")

    expected = {"OPTIONS": 200, "non-UUID id": 404, "deep JSON": 400, "NUL in body": 400, "NUL in query": 400}
    if call.page:  # a browser page is no API: OPTIONS may answer as its GET does (a redirect, say)
        expected.pop("OPTIONS")
    wrong = {label: code for label, code in seen.items() if code >= 500 or expected.get(label, code) != code}
    assert wrong == {}


OTHER_ROUTES = ["/api/v1/me/", "/api/v1/me/quota/", "/api/v1/orgs/", "/api/v1/gallery/", "/v1/models"]
SOME_UUID = "0d5ca859-8aee-4fdc-b176-dd8d575c603a"
# Routes outside an organisation that act in one of the caller's (`org` in the body).
ACTING_IN_AN_ORG = [
    "/api/v1/links/abc/clone/",
    "/api/v1/links/abc/conversations/",
    f"/api/v1/gallery/{SOME_UUID}/clone/",
    f"/api/v1/gallery/{SOME_UUID}/conversations/",
]
ANSWER_OPTIONS = [*OTHER_ROUTES, "/api/v1/links/abc/", *ACTING_IN_AN_ORG, "/v1/chat/completions"]


@pytest.mark.parametrize("path", ANSWER_OPTIONS)
def test_routes_outside_an_organisation_answer_options(path: str, alice, api) -> None:
    client = api(alice)
    client.raise_request_exception = False
    assert client.options(path).status_code == 200


@pytest.mark.parametrize("path", OTHER_ROUTES)
def test_routes_outside_an_organisation_refuse_a_nul_in_the_query(path: str, alice, api) -> None:
    client = api(alice)
    client.raise_request_exception = False
    assert client.get(f"{path}?{NUL_QUERY}").status_code == 400


@pytest.mark.parametrize("pk", ["null,null", NOT_A_UUID])
@pytest.mark.parametrize(("method", "tail"), [("get", ""), ("post", "clone/"), ("post", "conversations/")])
def test_gallery_id_that_is_not_a_uuid_is_404(pk: str, method: str, tail: str, alice, api) -> None:
    client = api(alice)
    client.raise_request_exception = False
    response = getattr(client, method)(f"/api/v1/gallery/{pk}/{tail}", {}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ACTING_IN_AN_ORG)
def test_routes_acting_in_an_org_refuse_odd_bodies(path: str, alice, api) -> None:
    client = api(alice)
    client.raise_request_exception = False
    assert client.post(path, data=DEEP_JSON, content_type="application/json").status_code == 400
    body = {"org": "acme", "name": "copy", "title": "chat", "variables": {"subject": "tides"}}
    assert client.post(path, with_nul(body), format="json").status_code == 400
