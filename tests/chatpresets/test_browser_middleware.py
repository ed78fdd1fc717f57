"""Cookie-session middleware stays out of API requests that bring a key; every response keeps its
headers; on a key request only SecurityMiddleware's two hooks and one hop per view leave the loop."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, RequestFactory
from django.urls import reverse

from chatpresets.browser_middleware import (
    AuthenticationMiddleware,
    CsrfViewMiddleware,
    SessionMiddleware,
    deploy_checks,
    is_key_request,
)

KEY = {"HTTP_AUTHORIZATION": "Bearer cp_anything"}
API_HEADERS = {"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Content-Security-Policy"}


@pytest.mark.parametrize(
    ("path", "authorization", "expected"),
    [
        ("/v1/chat/completions", "Bearer cp_x", True),
        ("/api/v1/me/", "Bearer cp_x", True),
        ("/api/v1/me/", "Bearer", True),  # no secret: still the key's 401, never the session
        ("/api/v1/me/", "Basic abc", False),
        ("/api/v1/me/", "bearer cp_x", False),  # ApiKeyAuthentication ignores other spellings too
        ("/api/v1/me/", "", False),
        ("/o/acme/", "Bearer cp_x", False),  # pages are signed in by cookie whatever else is sent
        ("/admin/", "Bearer cp_x", False),
    ],
)
def test_key_request_is_a_bearer_header_on_an_api_path(path: str, authorization: str, expected: bool) -> None:
    request = RequestFactory().get(path, HTTP_AUTHORIZATION=authorization)
    assert is_key_request(request) is expected


def _seen(request: HttpRequest) -> HttpResponse:
    return HttpResponse(",".join(name for name in ("session", "user") if hasattr(request, name)))


def test_key_request_gets_no_session_or_user_and_a_browser_request_does() -> None:
    chain = SessionMiddleware(AuthenticationMiddleware(_seen))
    assert chain(RequestFactory().get("/api/v1/me/", **KEY)).content == b""
    assert chain(RequestFactory().get("/api/v1/me/")).content == b"session,user"
    assert chain(RequestFactory().get("/o/acme/", **KEY)).content == b"session,user"


def test_sync_chain_skips_the_csrf_view_check_for_key_requests_only() -> None:
    middleware = CsrfViewMiddleware(_seen)
    key_post, browser_post = (RequestFactory().post("/api/v1/orgs/acme/teams/", **h) for h in (KEY, {}))
    for request in (key_post, browser_post):
        middleware(request)
    assert middleware.process_view(key_post, _seen, (), {}) is None
    assert middleware.process_view(browser_post, _seen, (), {}).status_code == 403


async def test_async_chain_skips_without_thread_hops_and_keeps_csrf_for_browsers(hops: list[str]) -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    middleware = CsrfViewMiddleware(view)
    assert iscoroutinefunction(middleware)
    assert iscoroutinefunction(middleware.process_view)
    key_post = RequestFactory().post("/api/v1/orgs/acme/teams/", **KEY)
    await middleware(key_post)
    assert await middleware.process_view(key_post, view, (), {}) is None
    assert hops == []
    browser_post = RequestFactory().post("/api/v1/orgs/acme/teams/")
    await middleware(browser_post)
    refused = await middleware.process_view(browser_post, view, (), {})
    assert refused is not None
    assert refused.status_code == 403
    assert hops  # the browser path runs Django's hooks as before


MIDDLEWARE_HOPS = ["SecurityMiddleware.process_request", "SecurityMiddleware.process_response"]


def _in_views(hops: list[str]) -> list[str]:
    return [name for name in hops if "Middleware" not in name and "Signal" not in name and "close" not in name]


@pytest.mark.django_db(transaction=True)
async def test_v1_models_key_request_keeps_the_security_headers_in_one_hop_past_the_middleware(
    alice: Any, acme: Any, make_key: Any, hops: list[str]
) -> None:
    _, secret = await sync_to_async(make_key)(alice, acme, ["chat"])
    client = AsyncClient()
    await sync_to_async(client.force_login)(alice)  # a session cookie too: the key alone counts
    hops.clear()
    response = await client.get("/v1/models", headers={"authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert set(response.headers) >= API_HEADERS
    assert "Cookie" not in response.get("Vary", "")
    assert [name for name in hops if "Middleware" in name] == MIDDLEWARE_HOPS
    assert _in_views(hops) == ["_model_names"]


@pytest.mark.django_db(transaction=True)
async def test_v1_completion_checks_key_body_and_plan_in_one_hop(
    alice: Any, acme: Any, make_key: Any, fake_llm: Any, hops: list[str]
) -> None:
    _, secret = await sync_to_async(make_key)(alice, acme, ["chat"])
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}
    hops.clear()
    response = await AsyncClient().post(
        "/v1/chat/completions", body, content_type="application/json", headers={"authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200
    assert [name for name in hops if "Middleware" in name] == MIDDLEWARE_HOPS
    assert _in_views(hops)[0] == "_caller_and_call"  # then the model call, then the usage record
    assert "_key_caller" not in hops


def test_key_request_with_a_session_cookie_is_the_keys_user(api, alice, bob, acme, make_key) -> None:
    _, secret = make_key(bob, acme, ["org:read"])
    client = api(alice, key=secret)
    response = client.get(reverse("me"))
    assert response.status_code == 200
    assert response.json()["username"] == "bob"
    assert "Cookie" not in response.get("Vary", "")


def test_trailing_slash_redirect_and_headers_are_unchanged_for_key_requests(api, alice, acme, make_key) -> None:
    _, secret = make_key(alice, acme, ["org:read"])
    response = api(key=secret).get("/api/v1/me")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/me/"


def test_deploy_checks_find_the_subclasses_and_miss_their_absence(settings: Any) -> None:
    settings.CSRF_COOKIE_SECURE = True
    assert deploy_checks() == []
    settings.X_FRAME_OPTIONS, settings.CSRF_COOKIE_SECURE = "SAMEORIGIN", False
    assert {m.id for m in deploy_checks()} == {"chatpresets.W016", "chatpresets.W019"}
    settings.MIDDLEWARE = [
        path for path in settings.MIDDLEWARE if not path.endswith(("CsrfViewMiddleware", "XFrameOptionsMiddleware"))
    ]
    assert {m.id for m in deploy_checks()} == {"chatpresets.W003", "chatpresets.W002"}
