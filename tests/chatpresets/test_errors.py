"""Every API error, whatever raised it, leaves as {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json

import pytest
import redis
from django.db import OperationalError, connection, connections
from django.test import RequestFactory, override_settings
from django.urls import reverse

from chatpresets import errors
from chatpresets.middleware import DependencyUnavailableMiddleware
from tests.server import free_port


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_validation_error(api, alice) -> None:
    error = assert_error_shape(
        api(alice).post(reverse("team-list", kwargs={"org_slug": "acme"}), {"slug": "bad slug!"}, format="json"),
        400,
        "invalid",
    )
    assert set(error["details"]["fields"]) == {"name", "slug"}


def test_malformed_json_is_parse_error(api, alice) -> None:
    response = api(alice).generic(
        "POST", reverse("team-list", kwargs={"org_slug": "acme"}), "{not json", content_type="application/json"
    )
    assert_error_shape(response, 400, "parse_error")


def test_unsupported_media_type(api, alice) -> None:
    response = api(alice).generic(
        "POST", reverse("team-list", kwargs={"org_slug": "acme"}), "name=x", content_type="text/plain"
    )
    assert_error_shape(response, 415, "unsupported_media_type")


def test_not_authenticated(api, acme) -> None:
    assert_error_shape(api().get(reverse("me")), 401, "not_authenticated")


def test_authentication_failed(api, acme) -> None:
    assert_error_shape(api(key="cpk_000000000000_nope").get(reverse("me")), 401, "authentication_failed")


def test_permission_denied(api, bob) -> None:
    response = api(bob).post(reverse("team-list", kwargs={"org_slug": "acme"}), {}, format="json")
    assert_error_shape(response, 403, "permission_denied")


def test_not_found_inside_a_route(api, carol, acme) -> None:
    assert_error_shape(api(carol).get(reverse("member-list", kwargs={"org_slug": "acme"})), 404, "not_found")


def test_unknown_api_path_is_json_404(api, alice) -> None:
    assert_error_shape(api(alice).get("/api/v1/no-such-thing/"), 404, "not_found")


UNKNOWN_API_PATHS = ["/api/v1/no-such-thing/", "/api/nothing", "/v1/no-such-thing", "/v1/chat/completions/x"]


@override_settings(DEBUG=True)
@pytest.mark.parametrize("path", UNKNOWN_API_PATHS)
def test_unknown_api_path_is_json_404_even_with_debug_on(api, alice, path) -> None:
    assert_error_shape(api(alice).get(path), 404, "not_found")


@override_settings(DEBUG=True)
def test_unknown_page_path_keeps_the_html_404_with_debug_on(client, db) -> None:
    response = client.get("/no-such-page/")
    assert (response.status_code, response["Content-Type"].split(";")[0]) == (404, "text/html")


def test_method_not_allowed(api, alice) -> None:
    assert_error_shape(api(alice).delete(reverse("me")), 405, "method_not_allowed")


def test_conflict(api, alice) -> None:
    response = api(alice).patch(
        reverse("member-detail", kwargs={"org_slug": "acme", "pk": alice.memberships.get().pk}),
        {"role": "member"},
        format="json",
    )
    assert_error_shape(response, 409, "last_owner")


@override_settings(API_THROTTLE_USER_RATE="2/min")
def test_throttled_has_retry_after(api, alice) -> None:
    client = api(alice)
    assert client.get(reverse("me")).status_code == 200
    assert client.get(reverse("me")).status_code == 200
    response = client.get(reverse("me"))
    error = assert_error_shape(response, 429, "throttled")
    assert 0 < error["details"]["retry_after"] <= 60
    assert int(response["Retry-After"]) == error["details"]["retry_after"]


def test_disallowed_host_under_api_is_json_400(client, db) -> None:
    assert_error_shape(client.get("/api/v1/me/", HTTP_HOST="evil.example"), 400, "bad_request")


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (lambda r: errors.server_error(r), 500, "server_error"),
        (lambda r: errors.permission_denied(r, Exception()), 403, "permission_denied"),
        (lambda r: errors.page_not_found(r, Exception()), 404, "not_found"),
        (lambda r: errors.bad_request(r, Exception()), 400, "bad_request"),
    ],
)
def test_django_level_handlers_answer_json_under_api(handler, status, code) -> None:
    response = handler(RequestFactory().get("/api/v1/anything/"))
    assert response.status_code == status
    import json

    assert json.loads(response.content)["error"]["code"] == code


def test_django_level_handlers_keep_html_for_pages(db) -> None:
    response = errors.page_not_found(RequestFactory().get("/o/nowhere/"), Exception())
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def unreachable_redis_error() -> Exception:
    """The exception a real Redis client raises when nothing listens on its port."""
    client = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        return error
    raise AssertionError("a closed port answered")


def unreachable_database_error() -> Exception:
    """The exception Django raises when PostgreSQL cannot be reached (as when it refuses clients)."""
    settings_dict = {**connection.settings_dict, "PORT": free_port(), "OPTIONS": {"connect_timeout": 1}}
    wrapper = type(connections["default"])(settings_dict, alias="unreachable")
    try:
        wrapper.ensure_connection()
    except OperationalError as error:
        return error
    raise AssertionError("a closed port accepted a database connection")


def assert_unavailable(response, dependency: str) -> None:
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["details"]["dependency"] == dependency
    assert int(response["Retry-After"]) == body["error"]["details"]["retry_after"] >= 1


@pytest.mark.parametrize(
    ("failure", "dependency"), [(unreachable_redis_error, "redis"), (unreachable_database_error, "database")]
)
def test_a_drf_view_that_cannot_reach_a_dependency_answers_503_with_retry_after(failure, dependency, db) -> None:
    response = errors.exception_handler(failure(), {})
    assert response.status_code == 503
    assert response.data["error"]["code"] == "service_unavailable"
    assert response.data["error"]["details"]["dependency"] == dependency
    assert int(response["Retry-After"]) == response.data["error"]["details"]["retry_after"] >= 1


@pytest.mark.parametrize(
    ("failure", "dependency"), [(unreachable_redis_error, "redis"), (unreachable_database_error, "database")]
)
def test_a_plain_or_async_view_that_cannot_reach_a_dependency_answers_503(failure, dependency, db) -> None:
    request = RequestFactory().post("/api/v1/orgs/acme/conversations/x/messages/")
    response = DependencyUnavailableMiddleware(lambda request: None).process_exception(request, failure())
    assert_unavailable(response, dependency)


def test_a_middleware_that_cannot_reach_the_database_answers_503_not_500(db) -> None:
    try:
        raise unreachable_database_error()
    except OperationalError:  # Django calls handler500 inside its except block
        response = errors.server_error(RequestFactory().get("/o/acme/"))
    assert_unavailable(response, "database")


def test_other_exceptions_are_still_left_to_the_500_handler() -> None:
    middleware = DependencyUnavailableMiddleware(lambda request: None)
    assert middleware.process_exception(RequestFactory().get("/api/v1/me/"), ValueError("bug")) is None
    try:
        raise ValueError("bug")
    except ValueError:
        assert errors.server_error(RequestFactory().get("/api/v1/me/")).status_code == 500
