"""REST routes for webhooks, for organisation admins (`org.manage`; keys need `org:write`).

/orgs/<org>/webhooks/                                   list, create (the secret is shown once)
/orgs/<org>/webhooks/<id>/                              read, change, delete
/orgs/<org>/webhooks/<webhook_id>/deliveries/           the delivery log, newest first
/orgs/<org>/webhooks/<webhook_id>/deliveries/<id>/resend/   send the message again
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatpresets.errors import NotFound
from presets.webhooks import services
from presets.webhooks.events import EVENTS
from presets.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenancy.api.base import TenantViewSet
from tenancy.api.views import validated
from tenancy.permissions import Perm

MANAGE = Perm.ORG_MANAGE


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS), read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret. Shown once; store it now.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS), min_length=1, max_length=len(EVENTS))


class WebhookUpdateSerializer(WebhookWriteSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS), min_length=1, max_length=len(EVENTS), required=False
    )
    is_active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "message_id",
            "event",
            "payload",
            "status",
            "attempts",
            "last_status_code",
            "latency_ms",
            "error",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The organisation's webhook endpoints. Targets must pass the SSRF rules (docs/webhooks.md)."""

    model = WebhookEndpoint
    serializer_class = WebhookSerializer
    action_permissions = {
        "list": MANAGE,
        "retrieve": MANAGE,
        "create": MANAGE,
        "partial_update": MANAGE,
        "destroy": MANAGE,
    }

    @extend_schema(request=WebhookWriteSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        endpoint = services.endpoint_create(org=self.org, actor=request.user, **validated(self, WebhookWriteSerializer))
        return Response(WebhookCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        data, endpoint = validated(self, WebhookUpdateSerializer, partial=True), self.get_object()
        endpoint = services.endpoint_update(endpoint=endpoint, actor=request.user, **data)
        return Response(WebhookSerializer(endpoint).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.endpoint_delete(endpoint=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryViewSet(mixins.ListModelMixin, TenantViewSet):
    """One endpoint's delivery log, and resending a delivery."""

    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer
    addressed_by = {"webhook_id": WebhookEndpoint}
    action_permissions = {"list": MANAGE, "resend": MANAGE}

    def endpoint(self) -> WebhookEndpoint:
        """The endpoint in the URL, or the same 404 as any id outside the organisation."""
        endpoint = WebhookEndpoint.objects.for_org(self.org).filter(pk=self.kwargs["webhook_id"]).first()
        if endpoint is None:
            raise NotFound()
        return endpoint

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(endpoint=self.endpoint())

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, **kwargs: Any) -> Response:
        resent = services.delivery_resend(delivery=self.get_object(), actor=request.user)
        resent.refresh_from_db()  # the first attempt may already have run (tasks inline)
        return Response(WebhookDeliverySerializer(resent).data, status=status.HTTP_202_ACCEPTED)
