"""What the schema promises is what the server does: each case here is one the schema fuzzer
(tests/test_api_fuzz.py) found, kept as a focused regression test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from chatpresets.openapi import NOT_BLANK_NO_NUL
from presets.models import Preset
from tests.presets_world import make_preset


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def parameters(openapi: dict[str, Any], path: str, method: str = "get") -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in openapi["paths"][path][method].get("parameters", []) if p["in"] == "query"}


def component(openapi: dict[str, Any], name: str) -> dict[str, Any]:
    return openapi["components"]["schemas"][name]


@pytest.mark.parametrize("query", ["?page=", "?page=abc", "?page=-3", "?page=²"])
def test_a_page_that_is_not_a_whole_number_of_at_least_one_is_404_like_a_page_past_the_end(
    query: str, api, alice, acme
) -> None:
    response = api(alice).get(reverse("member-list", kwargs={"org_slug": "acme"}) + query)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["?page_size=", "?page_size=null", "?page_size=0", "?page_size=-5"])
def test_a_page_size_that_is_not_a_whole_number_of_at_least_one_is_400(query: str, api, alice, acme) -> None:
    response = api(alice).get(reverse("member-list", kwargs={"org_slug": "acme"}) + query)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"] == {"page_size": ["A whole number of at least 1."]}


def test_the_schema_says_pages_start_at_one(openapi) -> None:
    listed = parameters(openapi, "/api/v1/orgs/{org_slug}/members/")
    assert listed["page"]["schema"]["minimum"] == listed["page_size"]["schema"]["minimum"] == 1


def test_a_page_past_the_end_of_a_search_is_404_not_a_database_error(api, alice, acme) -> None:
    url = reverse("preset-list", kwargs={"org_slug": "acme"})
    response = api(alice).get(url, {"q": "anything", "page": "99999999999999999999999"})
    assert response.status_code == 404


def test_the_trash_is_a_filtered_page_that_orders_by_rank_like_the_list(api, alice, acme, openapi) -> None:
    url = reverse("preset-trash", kwargs={"org_slug": "acme"})
    response = api(alice).get(url, {"ordering": "-rank,name"})
    assert response.status_code == 200
    assert response.json()["results"] == []
    trash = openapi["paths"]["/api/v1/orgs/{org_slug}/presets/trash/"]["get"]
    assert trash["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PaginatedPresetSummaryList"
    )
    assert {"ordering", "scope", "page"} <= set(parameters(openapi, "/api/v1/orgs/{org_slug}/presets/trash/"))


def test_the_review_queue_offers_no_filters_it_would_ignore(openapi) -> None:
    assert set(parameters(openapi, "/api/v1/orgs/{org_slug}/presets/review-queue/")) == {"page", "page_size"}


def test_fields_that_can_be_null_say_so(openapi) -> None:
    assert component(openapi, "PresetSummary")["properties"]["team"]["nullable"] is True
    assert component(openapi, "ReviewQueueItem")["properties"]["reviewer"]["nullable"] is True


def test_an_api_key_needs_a_scope_and_the_schema_says_so(api, alice, acme, openapi) -> None:
    assert component(openapi, "ApiKeyCreateRequest")["properties"]["scopes"]["minItems"] == 1
    response = api(alice).post(reverse("api-key-list", kwargs={"org_slug": "acme"}), {"name": "k", "scopes": []})
    assert response.status_code == 400


def test_a_whitespace_name_is_blank_and_the_schema_says_names_need_a_visible_character(api, alice, acme, openapi):
    assert component(openapi, "PresetWriteRequest")["properties"]["name"]["pattern"] == NOT_BLANK_NO_NUL
    body = {"name": "\x1c\t", "slug": "blank", "system_prompt": "Hi.", "model": "fake"}
    response = api(alice).post(reverse("preset-list", kwargs={"org_slug": "acme"}), body)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["name"]
    assert not Preset.objects.filter(slug="blank").exists()


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_the_api_reads_json_only_and_the_schema_offers_nothing_else(content_type: str, api, alice, acme, openapi):
    response = api(alice).generic("POST", reverse("team-list", kwargs={"org_slug": "acme"}), "name=x", content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    bodies = [
        operation["requestBody"]["content"]
        for path in openapi["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert bodies
    assert all(set(content) == {"application/json"} for content in bodies)


def test_a_blank_updated_after_is_400_not_ignored(api, alice, acme) -> None:
    response = api(alice).get(reverse("preset-list", kwargs={"org_slug": "acme"}) + "?updated_after=")
    assert response.status_code == 400
    assert "updated_after" in response.json()["error"]["details"]["fields"]


def test_the_shares_of_a_preset_are_one_list_as_the_schema_says(api, alice, bob, acme, openapi) -> None:
    preset = make_preset(acme, alice, "shared")
    url = reverse("preset-share-list", kwargs={"org_slug": "acme", "preset_id": preset.pk})
    api(alice).post(url, {"user": "bob", "level": "view"})
    shares = api(alice).get(url).json()
    assert [share["name"] for share in shares] == ["bob"]
    answer = openapi["paths"]["/api/v1/orgs/{org_slug}/presets/{preset_id}/shares/"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["type"] == "array"


@pytest.mark.parametrize("path", ["/api/v1/orgs/{org_slug}/conversations/{id}/messages/", "/v1/chat/completions"])
def test_the_chat_routes_document_their_json_body(path: str, openapi) -> None:
    body = openapi["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["application/json"]


def test_a_member_is_named_by_a_visible_identifier_and_the_schema_says_so(api, alice, acme, openapi) -> None:
    user = component(openapi, "MemberAddRequest")["properties"]["user"]
    assert (user["minLength"], user["pattern"]) == (1, NOT_BLANK_NO_NUL)
    response = api(alice).post(reverse("member-list", kwargs={"org_slug": "acme"}), {"user": " ", "role": "viewer"})
    assert response.status_code == 400


def test_an_empty_string_is_not_a_team(api, alice, acme) -> None:
    body = {"name": "Mine", "kind": "personal", "team": ""}
    response = api(alice).post(reverse("library-list", kwargs={"org_slug": "acme"}), body)
    assert response.status_code == 400
    assert "team" in response.json()["error"]["details"]["fields"]


def test_a_number_where_the_schema_says_string_is_refused(api, alice, acme) -> None:
    url = reverse("team-list", kwargs={"org_slug": "acme"})
    response = api(alice).post(url, {"name": 0, "slug": "zero"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["name"] == ["Not a valid string."]


def test_every_free_text_string_in_the_schema_says_it_holds_no_nul(openapi) -> None:
    name = component(openapi, "TeamRequest")["properties"]["name"]
    assert name["pattern"] == r"^[^\x00]*$"
    assert re.fullmatch(name["pattern"], "Support")
    assert not re.fullmatch(name["pattern"], "Sup\x00port")
