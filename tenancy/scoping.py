"""The one tenant-scoping mechanism: every tenant model is filtered by `for_org(org)`.

Each tenant table carries its own `org` column (denormalised where a parent already has one),
so a single filter scopes it and row-level security can later key on the same column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from tenancy.models import Organization


class TenantQuerySet(models.QuerySet):
    def for_org(self, org: Organization) -> TenantQuerySet:
        lookup = getattr(self.model, "tenant_lookup", "org_id")
        return self.filter(**{lookup: org.pk})


TenantManager = models.Manager.from_queryset(TenantQuerySet)


class TenantOwned(models.Model):
    """Base for rows that belong to exactly one organisation."""

    org = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="%(class)s_set")

    objects: Any = TenantManager()
    tenant_lookup = "org_id"

    class Meta:
        abstract = True
