"""Django's browser middleware without a worker thread where none is needed.

Under ASGI each hook of a sync middleware (`MiddlewareMixin`) runs in a worker thread: one thread
hop per hook, on every request, each a round trip that waits for a core on a busy machine.

- Hooks that only read the request and set headers (common, X-Frame-Options, CSP) run on the
  event loop for every request, so every response keeps exactly the headers it had.
- Sessions, CSRF, authentication and messages serve browsers signed in with a cookie. A request
  to an API path that presents `Authorization: Bearer …` is authenticated by its key alone
  (`ApiKeyAuthentication` comes first and never falls back to the session; `/v1` and the send
  endpoint take the key whenever the header names that scheme), so these four pass it straight
  through. Every other request, a Bearer header on a page included, goes through them as before.

The classes are subclasses of Django's, so the admin's checks still find them; Django's deployment
checks look for the CSRF and X-Frame-Options middleware by path, so `deploy_checks` (registered
from the app config) asks the same questions of the subclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from csp import middleware as csp
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core import checks
from django.http import HttpRequest, HttpResponse
from django.middleware import clickjacking, common, csrf
from django.utils.module_loading import import_string

from chatpresets.bearer import bearer_secret
from chatpresets.errors import is_api
from chatpresets.middleware import OnLoopMiddlewareMixin


def is_key_request(request: HttpRequest) -> bool:
    """An API request that names the key scheme: the key, valid or not, is its only credential."""
    return bearer_secret(request.META.get("HTTP_AUTHORIZATION", "")) is not None and is_api(request)


class BrowserOnlyMixin:
    """Pass key requests straight to the next handler; run the middleware for everything else."""

    get_response: Callable[[HttpRequest], Any]
    async_mode: bool

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)  # type: ignore[call-arg]
        if hasattr(super(), "process_view"):
            # Django adapts process_view to the chain's mode: in an async chain a coroutine is
            # awaited as it is, where a plain method would cost a thread hop even when it skips.
            self.process_view = self._aprocess_view if self.async_mode else self._process_view

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self._acall_unless_key(request)
        if is_key_request(request):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]

    async def _acall_unless_key(self, request: HttpRequest) -> HttpResponse:
        if is_key_request(request):
            return await self.get_response(request)
        return await super().__acall__(request)  # type: ignore[misc]

    def _process_view(self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict) -> Any:
        return None if is_key_request(request) else super().process_view(request, view, args, kwargs)  # type: ignore[misc]

    async def _aprocess_view(self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict) -> Any:
        if is_key_request(request):
            return None
        return await sync_to_async(super().process_view, thread_sensitive=True)(request, view, args, kwargs)  # type: ignore[misc]


class SessionMiddleware(BrowserOnlyMixin, sessions.SessionMiddleware):
    pass


class CsrfViewMiddleware(BrowserOnlyMixin, csrf.CsrfViewMiddleware):
    pass


class AuthenticationMiddleware(BrowserOnlyMixin, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnlyMixin, messages.MessageMiddleware):
    pass


class CommonMiddleware(OnLoopMiddlewareMixin, common.CommonMiddleware):
    """Host and user-agent checks, the trailing-slash redirect and Content-Length: URL resolution
    and headers, no I/O."""


class XFrameOptionsMiddleware(OnLoopMiddlewareMixin, clickjacking.XFrameOptionsMiddleware):
    pass


class CSPMiddleware(OnLoopMiddlewareMixin, csp.CSPMiddleware):
    """The policy header from settings and the response's decorators; the nonce is made lazily."""


def _uses(base: type) -> bool:
    loaded = (import_string(path) for path in settings.MIDDLEWARE)
    return any(isinstance(middleware, type) and issubclass(middleware, base) for middleware in loaded)


@checks.register(checks.Tags.security, deploy=True)
def deploy_checks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """security.W002, W003, W016 and W019, which Django only runs for its own middleware paths."""
    found: list[checks.CheckMessage] = []
    if not _uses(csrf.CsrfViewMiddleware):
        found.append(checks.Warning("CsrfViewMiddleware is not in MIDDLEWARE.", id="chatpresets.W003"))
    elif not settings.CSRF_USE_SESSIONS and settings.CSRF_COOKIE_SECURE is not True:
        found.append(checks.Warning("CSRF_COOKIE_SECURE is not True.", id="chatpresets.W016"))
    if not _uses(clickjacking.XFrameOptionsMiddleware):
        found.append(checks.Warning("XFrameOptionsMiddleware is not in MIDDLEWARE.", id="chatpresets.W002"))
    elif settings.X_FRAME_OPTIONS != "DENY":
        found.append(checks.Warning("X_FRAME_OPTIONS is not 'DENY'.", id="chatpresets.W019"))
    return found
