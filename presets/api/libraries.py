"""Libraries of the organisation: personal, team and the curated organisation library."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatpresets.errors import InvalidInput
from presets.api import serializers as s
from presets.models import Library
from presets.selectors import preset_list_visible
from presets.services import libraries
from tenancy.api.base import TenantViewSet
from tenancy.api.views import validated
from tenancy.permissions import Perm


class LibraryViewSet(mixins.ListModelMixin, TenantViewSet):
    model = Library
    serializer_class = s.LibrarySerializer
    action_permissions = {
        "list": Perm.PRESETS_READ,
        "retrieve": Perm.PRESETS_READ,
        "create": Perm.PRESETS_WRITE,
        "partial_update": Perm.PRESETS_WRITE,
        "destroy": Perm.PRESETS_WRITE,
        "items": Perm.PRESETS_WRITE,
    }

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(
            pk__in=libraries.libraries_visible(membership=self.membership).values("pk")
        ).select_related("owner", "team")

    def respond(self, library: Library, code: int = status.HTTP_200_OK) -> Response:
        presets = libraries.library_presets(library=library, visible=preset_list_visible(membership=self.membership))
        return Response(s.LibraryDetailSerializer(library, context={"presets": presets}).data, status=code)

    @extend_schema(responses={201: s.LibraryDetailSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.LibrarySerializer)
        library = libraries.library_create(membership=self.membership, team=data.pop("team", None), **data)
        return self.respond(library, status.HTTP_201_CREATED)

    @extend_schema(responses=s.LibraryDetailSerializer)
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return self.respond(self.get_object())

    @extend_schema(request=s.LibraryUpdateSerializer, responses=s.LibraryDetailSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.LibraryUpdateSerializer)
        library = self.get_object()
        if data:  # a PATCH changes only what it names: `{}` is a valid no-op
            library = libraries.library_update(library=library, membership=self.membership, **data)
        return self.respond(library)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        libraries.library_delete(library=self.get_object(), membership=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.LibraryItemsSerializer, responses=s.LibraryDetailSerializer)
    @action(detail=True, methods=["put"])
    def items(self, request: Request, **kwargs: Any) -> Response:
        library = self.get_object()
        wanted = validated(self, s.LibraryItemsSerializer)["presets"]
        found = preset_list_visible(membership=self.membership).in_bulk(wanted)
        missing = [str(pk) for pk in wanted if pk not in found]
        if missing:
            raise InvalidInput("Unknown preset(s).", details={"field": "presets", "unknown": missing})
        libraries.library_set_items(library=library, membership=self.membership, presets=[found[pk] for pk in wanted])
        return self.respond(library)
