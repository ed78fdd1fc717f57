"""The viewset base every tenant route inherits: org from the URL, 404 for outsiders, role check.

It lives here rather than in tenancy.scoping because it needs the models, which need scoping.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from chatpresets import request_context
from chatpresets.errors import NotFound
from tenancy import denials
from tenancy.models import ApiKey, Membership, Organization
from tenancy.permissions import Perm, TenantRolePermission, caller_has
from tenancy.selectors import membership_for_caller, membership_to_act_in

# A UUID as uuid.UUID reads it (hyphens optional). A looser pattern let ids like `a6232c7d-…` with
# 31 digits reach the database lookup, where they raised ValidationError (a 500) instead of a 404.
UUID_REGEX = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class TenantViewSet(GenericViewSet):
    """Resolves `org_slug` once, checks membership (404) then role and key scope (403).

    Subclasses declare `model` and `action_permissions`, and narrow the queryset with
    `scope_queryset`; overriding `get_queryset` is refused so the tenant filter cannot be lost.
    Every refusal (403, and a 404 hiding something that exists) is audited here, once for every
    tenant route (tenancy/denials.py); `addressed_by` names the rows other URL ids point at.
    """

    model: ClassVar[type[models.Model]]
    action_permissions: ClassVar[dict[str, Perm]]
    permission_classes = [IsAuthenticated, TenantRolePermission]
    lookup_value_regex = UUID_REGEX
    addressed_by: ClassVar[dict[str, type[models.Model]]] = {}

    org: Organization
    membership: Membership

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override get_queryset; use scope_queryset")

    def check_permissions(self, request: Request) -> None:
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()
        self.membership = membership_for_caller(
            user=request.user, org_slug=self.kwargs["org_slug"], api_key=self.api_key
        )
        self.org = self.membership.org
        request_context.note(org_id=self.org.pk, user_id=request.user.pk)
        super().check_permissions(request)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if response.status_code in (403, 404) and self.request.user and self.request.user.is_authenticated:
            denials.record_refusal(
                attempt=denials.attempt_for(
                    self.request,
                    status=response.status_code,
                    code=_error_code(response),
                    addressed=self.addressed_rows(),
                ),
                org=self.org if hasattr(self, "membership") else None,
                org_slug=self.kwargs.get("org_slug"),
            )
        return response

    def addressed_rows(self) -> list[tuple[type[models.Model], Any]]:
        """(model, id) for each id in the URL that names a row: the lookup (when it is the primary
        key) and the kwargs of `addressed_by`."""
        named = dict(self.addressed_by)
        if self.lookup_field == "pk":
            named.setdefault(self.lookup_url_kwarg or self.lookup_field, self.model)
        return [(model, self.kwargs[name]) for name, model in named.items() if name in self.kwargs]

    def get_queryset(self) -> models.QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.scope_queryset(self.model.objects.for_org(self.org))

    def scope_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["org"] = getattr(self, "org", None)
        return context

    @property
    def api_key(self) -> ApiKey | None:
        return self.request.auth if isinstance(self.request.auth, ApiKey) else None

    def caller_can(self, perm: Perm) -> bool:
        return caller_has(self.request, self.membership.role, perm)


def _error_code(response: Response) -> str:
    error = response.data.get("error") if isinstance(response.data, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def membership_acting_in(request: Request, org_slug: str | None, perm: Perm) -> Membership:
    """For routes outside an organisation that act in one of the caller's: 404 for a foreign or
    unknown `org`, then 403 when the role (or the key's scope) there lacks `perm`, as tenant routes,
    and audited as theirs are (a foreign organisation on the platform trail, a 403 in the caller's)."""
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    try:
        membership = membership_to_act_in(user=request.user, org_slug=org_slug, api_key=api_key)
    except NotFound:
        attempt = denials.attempt_for(request, status=404, code=NotFound.code)
        denials.record_refusal(attempt=attempt, org=None, org_slug=org_slug)
        raise
    if not caller_has(request, membership.role, perm):
        attempt = denials.attempt_for(request, status=403, code="permission_denied")
        denials.record_refusal(attempt=attempt, org=membership.org, org_slug=None)
        raise exceptions.PermissionDenied(TenantRolePermission.message)
    return membership
