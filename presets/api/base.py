"""Base for routes under one preset: the preset is resolved from the URL at a minimum level."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from chatpresets.errors import Forbidden, PromptHidden
from presets.models import Preset
from presets.selectors import Access, preset_for_caller
from tenancy.api.base import TenantViewSet


def require(access: Access, minimum: Access) -> None:
    """Callers who can see the preset but lack the level get 403; invisible presets were already 404."""
    if access >= minimum:
        return
    if access < Access.VIEW <= minimum:
        raise PromptHidden()
    raise Forbidden(f"This needs {minimum.name.lower()} access to the preset; you have {access.name.lower()}.")


class PresetChildViewSet(TenantViewSet):
    preset_url_kwarg: ClassVar[str] = "preset_id"
    minimum_access: ClassVar[Access] = Access.VIEW

    def addressed_rows(self) -> list[tuple[type[models.Model], Any]]:
        rows = super().addressed_rows()
        if self.preset_url_kwarg in self.kwargs:
            rows.append((Preset, self.kwargs[self.preset_url_kwarg]))
        return rows

    def preset_at(self, minimum: Access | None = None) -> tuple[Preset, Access]:
        if not hasattr(self, "_preset"):
            self._preset = preset_for_caller(membership=self.membership, preset_id=self.kwargs[self.preset_url_kwarg])
        preset, access = self._preset
        require(access, minimum or self.minimum_access)
        return preset, access
