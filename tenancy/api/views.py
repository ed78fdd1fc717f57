"""Tenancy endpoints: the caller, organisations, members, teams and their members, API keys."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from chatpresets.errors import Forbidden, NotFound, ScopeEscalation
from tenancy import services
from tenancy.api import serializers as s
from tenancy.api.base import TenantViewSet
from tenancy.models import ApiKey, Membership, Organization, Team, TeamMembership
from tenancy.permissions import Perm
from tenancy.selectors import api_keys_visible, organizations_for_caller


def validated(view: GenericAPIView, serializer_class: type, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=view.request.data, context=view.get_serializer_context(), **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class MeView(GenericAPIView):
    serializer_class = s.MeSerializer

    def get(self, request: Request) -> Response:
        data = s.MeSerializer(request.user).data
        if isinstance(request.auth, ApiKey):
            data["memberships"] = [m for m in data["memberships"] if m["slug"] == request.auth.org.slug]
        return Response(data)


class OrganizationListViewSet(mixins.ListModelMixin, GenericViewSet):
    """The caller's organisations; creating one makes the caller its owner."""

    serializer_class = s.OrganizationSerializer

    def get_queryset(self) -> QuerySet[Organization]:
        if getattr(self, "swagger_fake_view", False):
            return Organization.objects.none()
        api_key = self.request.auth if isinstance(self.request.auth, ApiKey) else None
        return organizations_for_caller(user=self.request.user, api_key=api_key)

    def create(self, request: Request) -> Response:
        if isinstance(request.auth, ApiKey):
            raise Forbidden("API keys belong to one organisation and cannot create another.")
        if not (settings.ORG_CREATION_ENABLED or request.user.is_staff):
            raise Forbidden("Creating organisations is disabled on this service.")
        data = validated(self, s.OrganizationSerializer)
        org = services.organization_create(actor=request.user, name=data["name"], slug=data["slug"])
        return Response(s.OrganizationSerializer(org).data, status=status.HTTP_201_CREATED)


class OrganizationViewSet(mixins.RetrieveModelMixin, TenantViewSet):
    model = Organization
    serializer_class = s.OrganizationSerializer
    lookup_field = "slug"
    lookup_url_kwarg = "org_slug"
    action_permissions = {"retrieve": Perm.ORG_VIEW, "partial_update": Perm.ORG_MANAGE}

    @extend_schema(request=s.OrganizationUpdateSerializer, responses=s.OrganizationSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.OrganizationUpdateSerializer, partial=True)
        org = self.get_object()
        if data:  # a PATCH changes only what it names: `{}` is a valid no-op
            org = services.organization_update(org=org, actor=request.user, **data)
        return Response(s.OrganizationSerializer(org).data)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    model = Membership
    serializer_class = s.MembershipSerializer
    action_permissions = {
        "list": Perm.MEMBERS_VIEW,
        "retrieve": Perm.MEMBERS_VIEW,
        "create": Perm.MEMBERS_MANAGE,
        "partial_update": Perm.MEMBERS_MANAGE,
        "destroy": Perm.MEMBERS_MANAGE,
    }

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("user", "org")

    @extend_schema(request=s.MemberAddSerializer, responses={201: s.MembershipSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.MemberAddSerializer)
        membership = services.member_add(org=self.org, actor=request.user, **data)
        return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.MemberRoleSerializer, responses=s.MembershipSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.MemberRoleSerializer)
        membership = self.get_object()
        if data:  # a PATCH changes only what it names: `{}` is a valid no-op
            membership = services.member_change_role(membership=membership, actor=request.user, **data)
        return Response(s.MembershipSerializer(membership).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.member_remove(membership=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    model = Team
    serializer_class = s.TeamSerializer
    action_permissions = {
        "list": Perm.TEAMS_VIEW,
        "retrieve": Perm.TEAMS_VIEW,
        "create": Perm.TEAMS_MANAGE,
        "partial_update": Perm.TEAMS_MANAGE,
        "destroy": Perm.TEAMS_MANAGE,
    }

    def create(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.TeamSerializer)
        team = services.team_create(org=self.org, actor=request.user, **data)
        return Response(s.TeamSerializer(team).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.TeamSerializer, partial=True)
        team = self.get_object()
        if data:  # a PATCH changes only what it names: `{}` is a valid no-op
            team = services.team_update(team=team, actor=request.user, **data)
        return Response(s.TeamSerializer(team).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.team_delete(team=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Members of one team, addressed by user id; the team must belong to the URL's organisation."""

    model = TeamMembership
    addressed_by = {"team_id": Team}
    serializer_class = s.TeamMemberSerializer
    lookup_field = "user_id"
    lookup_value_regex = "[0-9]+"
    action_permissions = {
        "list": Perm.TEAMS_VIEW,
        "retrieve": Perm.TEAMS_VIEW,
        "create": Perm.TEAMS_MANAGE,
        "partial_update": Perm.TEAMS_MANAGE,
        "destroy": Perm.TEAMS_MANAGE,
    }

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(team=self.team).select_related("user", "team", "org")

    @property
    def team(self) -> Team:
        if not hasattr(self, "_team"):
            team = Team.objects.for_org(self.org).filter(pk=self.kwargs["team_id"]).first()
            if team is None:
                raise NotFound()
            self._team = team
        return self._team

    @extend_schema(request=s.TeamMemberAddSerializer, responses={201: s.TeamMemberSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        team = self.team  # an unknown team is a 404 before the body is looked at
        data = validated(self, s.TeamMemberAddSerializer)
        team_membership = services.team_member_add(team=team, actor=request.user, **data)
        return Response(s.TeamMemberSerializer(team_membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TeamMemberUpdateSerializer, responses=s.TeamMemberSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.TeamMemberUpdateSerializer)
        team_membership = self.get_object()
        if data:  # a PATCH changes only what it names: `{}` is a valid no-op
            team_membership = services.team_member_update(team_membership=team_membership, actor=request.user, **data)
        return Response(s.TeamMemberSerializer(team_membership).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.team_member_remove(team_membership=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Members see and revoke their own keys; admins see and revoke every key of the organisation."""

    model = ApiKey
    serializer_class = s.ApiKeySerializer
    action_permissions = {
        "list": Perm.API_KEYS_OWN,
        "retrieve": Perm.API_KEYS_OWN,
        "create": Perm.API_KEYS_OWN,
        "destroy": Perm.API_KEYS_OWN,
    }

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return api_keys_visible(org=self.org, user=self.request.user, sees_all=self.caller_can(Perm.API_KEYS_MANAGE))

    @extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyCreatedSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.ApiKeyCreateSerializer)
        if self.api_key is not None and not set(data["scopes"]) <= set(self.api_key.scopes):
            raise ScopeEscalation()
        api_key, secret = services.api_key_create(org=self.org, actor=request.user, **data)
        api_key.key = secret
        return Response(s.ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.ApiKeySerializer})  # revoked, not gone: the key is shown
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        api_key = services.api_key_revoke(api_key=self.get_object(), actor=request.user)
        return Response(s.ApiKeySerializer(api_key).data)
