"""Presets (a system prompt with its model settings), their reviewed versions, labels, grants, links,
libraries.

The versioned content of a preset is `CONTENT_FIELDS`. Every save is kept by
django-simple-history; a content change increments `version`, and the content of version N
is read from the history row that carries N, which is never rewritten.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from tenancy.scoping import TenantOwned, TenantQuerySet

CONTENT_FIELDS = ("system_prompt", "model", "params", "variables", "policy")


class Scope(models.TextChoices):
    PRIVATE = "private", "Private"
    TEAM = "team", "Team"
    ORG = "org", "Organisation"
    PUBLIC = "public", "Public"


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_REVIEW = "pending_review", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Level(models.TextChoices):
    """Grant levels, each including the ones before it."""

    USE = "use", "Use (run without seeing the prompt)"
    VIEW = "view", "View"
    EDIT = "edit", "Edit"


LINK_LEVEL_CHOICES = [(Level.USE.value, "Use"), (Level.VIEW.value, "View")]
LEVEL_PERMISSION = {Level.USE: "use_preset", Level.VIEW: "view_preset", Level.EDIT: "change_preset"}


class PresetQuerySet(TenantQuerySet):
    def alive(self) -> PresetQuerySet:
        return self.filter(deleted_at__isnull=True)

    def trashed(self) -> PresetQuerySet:
        return self.filter(deleted_at__isnull=False)


class Preset(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="presets")
    team = models.ForeignKey("tenancy.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="presets")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.PRIVATE)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)

    system_prompt = models.TextField()
    model = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    variables = models.JSONField(default=list, blank=True)
    policy = models.JSONField(default=dict, blank=True)

    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    approved_version = models.PositiveIntegerField(null=True, blank=True)
    public_approved_version = models.PositiveIntegerField(null=True, blank=True)

    forked_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks")
    forked_from_version = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords(excluded_fields=["updated_at"], cascade_delete_history=True)
    objects = PresetQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        permissions = [
            ("use_preset", "Can run the preset without seeing its prompt"),
            ("moderate_preset", "Can approve or reject any organisation's pending versions, as an audited override"),
        ]
        constraints = [
            # Trashed presets keep their slug until they are purged.
            models.UniqueConstraint(fields=["org", "slug"], name="preset_unique_slug_per_org"),
            models.CheckConstraint(
                condition=~models.Q(scope="team") | models.Q(team__isnull=False), name="preset_team_scope_has_team"
            ),
        ]
        indexes = [
            models.Index(fields=["org", "deleted_at", "-updated_at"], name="preset_org_alive_updated"),
            models.Index(fields=["org", "scope", "approved_version"], name="preset_org_scope_approved"),
            models.Index(fields=["org", "owner", "-updated_at"], name="preset_org_owner_updated"),
            models.Index(fields=["org", "team"], name="preset_org_team"),
            models.Index(fields=["org", "status"], name="preset_org_status"),
            models.Index(fields=["scope", "public_approved_version"], name="preset_public_gallery"),
            # Exact slug and name matches in search (presets.search.EXACT).
            models.Index(Lower("slug"), name="preset_lower_slug"),
            models.Index(Lower("name"), name="preset_lower_name"),
        ]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"

    def content(self) -> dict[str, object]:
        return {field: getattr(self, field) for field in CONTENT_FIELDS}


class PresetVersion(TenantOwned):
    """Review state of one version; the content itself lives in the preset's history."""

    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    change_reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    findings = models.JSONField(default=list, blank=True)
    staff_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    staff_approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["preset", "-number"]
        constraints = [models.UniqueConstraint(fields=["preset", "number"], name="preset_version_unique_number")]
        indexes = [models.Index(fields=["org", "status"], name="preset_version_org_status")]

    def __str__(self) -> str:
        return f"{self.preset_id} v{self.number} {self.status}"


class PresetLabel(TenantOwned):
    """A named pointer to one version of a preset (presets.labels holds the rules for moving it).

    `production` needs no row: until it is moved it means the newest approved version.
    """

    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moved_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["preset", "name"]
        constraints = [models.UniqueConstraint(fields=["preset", "name"], name="preset_label_unique_name")]

    def __str__(self) -> str:
        return f"{self.preset_id}#{self.name} → v{self.version}"


class PresetUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="user_grants")


class PresetGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="group_grants")


class Audience(models.TextChoices):
    ORG = "org", "Members of the organisation"
    ANY_SIGNED_IN_USER = "any_signed_in_user", "Any signed-in user"


class Via(models.TextChoices):
    """How a preset of another organisation is used: each route keeps its own rule of what it shows."""

    GALLERY = "gallery", "The public gallery"
    LINK = "link", "A share link"


class PresetLink(TenantOwned):
    """A share link. Only the token's SHA-256 is stored; the token is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    level = models.CharField(max_length=10, choices=LINK_LEVEL_CHOICES, default=Level.VIEW)
    audience = models.CharField(max_length=20, choices=Audience.choices, default=Audience.ORG)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class PresetLinkUse(models.Model):
    """One person's use of a share link: `max_uses` counts people, so opening a link and then cloning
    it, or coming back to it, is one use."""

    link = models.ForeignKey(PresetLink, on_delete=models.CASCADE, related_name="people")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "user"], name="preset_link_use_once_per_person")]

    def __str__(self) -> str:
        return f"{self.user_id} used {self.link_id}"


class LibraryKind(models.TextChoices):
    PERSONAL = "personal", "Personal"
    TEAM = "team", "Team"
    ORG = "org", "Organisation (curated)"


class Library(TenantOwned):
    """A named, ordered collection of presets."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=LibraryKind.choices, default=LibraryKind.PERSONAL)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preset_libraries")
    team = models.ForeignKey("tenancy.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "libraries"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="team") | models.Q(team__isnull=False), name="library_team_kind_has_team"
            ),
        ]


class LibraryItem(TenantOwned):
    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="items")
    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["library", "position"]
        constraints = [models.UniqueConstraint(fields=["library", "preset"], name="library_item_unique_preset")]


# Experiments live in their own package; importing them here registers them with the presets app.
from presets.experiments.models import Experiment, ExperimentVariant  # noqa: E402, F401

# The webhook models live with the rest of their package; importing them here registers them with the app.
from presets.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
