"""Odd input never becomes a 500: every route gets each class a schema fuzzer found breaking one.

The classes: an id that matches the old loose URL pattern but is not a UUID (404), a NUL byte in
the query string (400) and in every string of the body (400), JSON nested 100,000 deep (400),
OPTIONS (DRF's metadata, 200), an `updated_after` PostgreSQL cannot store, and an `Idempotency-Key`
over 100 characters. Tenant routes come from tests/routes.py with real objects; every other URL
pattern, walked from the resolver, gets the same classes, so a new route is covered either way.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from tests.routes import CALLS, Call, build_world

pytestmark = pytest.mark.usefixtures("fake_llm")  # chat routes call the model

# 31 hex digits and a hyphen: the old `[0-9a-fA-F-]{32,36}` URL pattern took it, uuid.UUID does not.
NOT_A_UUID = "a6232c7D8D3DdE294-f4DaCf00CFf4ab"
UUID_IN_PATH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEEP_JSON = "[" * 100_000
NUL_QUERY = "q=%00&updated_after=%00&cursor=%00&against=%00&page_size=%00&ordering=%00&tag=%00"
# An offset Python reads and PostgreSQL refuses (±15:59 at most), and a year no calendar holds.
BAD_UPDATED_AFTER = ["0016-04-02T10:40:33-19:42", "99999-01-01T00:00:00Z", "yesterday"]
LONG_IDEMPOTENCY_KEY = {"HTTP_IDEMPOTENCY_KEY": "k" * 101}


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
    for value in BAD_UPDATED_AFTER:
        query = f"{call.query}&updated_after={value}" if call.query else f"?updated_after={value}"
        seen[f"updated_after={value}"] = send(client, call.method, path + query, data=body, format="json")
    seen["long Idempotency-Key"] = send(client, call.method, path + call.query, data=body, **LONG_IDEMPOTENCY_KEY)

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


# Values for URL parameters, tried in turn until `reverse` accepts one: a slug of a real
# organisation, an unknown UUID, a number, a word, an admin app label, a share principal.
PARAMETER_VALUES = ["acme", "6f1c2a5e-0d4b-4c3e-9a7f-2b8d1e4c5a60", "1", "abc", "tenancy", "user-1"]
HOSTILE_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("options", "", {}),
    ("get", f"?{NUL_QUERY}", {}),
    *[("get", f"?updated_after={value}", {}) for value in BAD_UPDATED_AFTER],
    ("post", "", {"data": DEEP_JSON, "content_type": "application/json"}),
    ("post", "", {"data": {"name": "x\x00", "content": "x\x00", "user": "x\x00"}, "format": "json"}),
    ("post", "", {"data": {"content": "Hi"}, "format": "json", **LONG_IDEMPOTENCY_KEY}),
    ("patch", "", {"data": DEEP_JSON, "content_type": "application/json"}),
]


def every_url_pattern(
    patterns: list[Any], namespace: str = "", outer: tuple[str, ...] = ()
) -> list[tuple[str, list[str], int]]:
    """(name for `reverse`, its named parameters with those of enclosing includes, how many
    positional ones) of every named URL pattern, admin's included."""
    found: list[tuple[str, list[str], int]] = []
    for pattern in patterns:
        regex = pattern.pattern.regex
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += every_url_pattern(pattern.url_patterns, inner, (*outer, *regex.groupindex))
        elif isinstance(pattern, URLPattern) and pattern.name:
            named = [*outer, *regex.groupindex]
            found.append((namespace + pattern.name, named, regex.groups - len(regex.groupindex)))
    return found


def concrete_path(name: str, parameters: list[str], positional: int) -> str | None:
    for values in itertools.product(PARAMETER_VALUES, repeat=len(parameters) + positional):
        try:
            if positional and not parameters:
                return reverse(name, args=values)
            return reverse(name, kwargs=dict(zip(parameters, values, strict=True)))
        except NoReverseMatch:
            continue
    return None


def error_shape_problem(path: str, response: Any) -> str | None:
    """What is wrong with a refusal from the API: it must be the one JSON error shape."""
    if response.status_code < 400 or not path.startswith(("/api/", "/v1/")):
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return "not the JSON error shape"
    return None if {"code", "message", "details"} <= set(error) else f"error without code/message/details: {error}"


ROUTES = sorted(every_url_pattern(get_resolver().url_patterns))


@pytest.mark.parametrize(("name", "parameters", "positional"), ROUTES, ids=[name for name, *_ in ROUTES])
def test_every_url_pattern_refuses_hostile_input_with_a_4xx_in_the_error_shape(
    name: str, parameters: list[str], positional: int, acme, alice, api
) -> None:
    path = concrete_path(name, parameters, positional)
    assert path is not None, f"add a value for {parameters} to PARAMETER_VALUES"
    client = api(alice)
    client.raise_request_exception = False
    wrong: dict[str, str] = {}
    for method, query, kwargs in HOSTILE_REQUESTS:
        response = getattr(client, method)(path + query, **kwargs)
        label = f"{method.upper()} {query or next(iter(kwargs), '')}"
        if response.status_code >= 500:
            wrong[label] = str(response.status_code)
        elif problem := error_shape_problem(path, response):
            wrong[label] = problem
    assert wrong == {}
