"""Users, organisations (the tenants), teams, memberships with roles, and API keys."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from tenancy.scoping import TenantManager, TenantOwned, TenantQuerySet


class User(AbstractUser):
    """The product's user; an e-mail address, when given, identifies one user only."""

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), condition=~models.Q(email=""), name="user_email_ci_unique"),
        ]


class Plan(models.TextChoices):
    FREE = "free", "Free"
    TEAM = "team", "Team"
    ENTERPRISE = "enterprise", "Enterprise"


class Organization(models.Model):
    """A tenant. Its slug appears in every tenant URL."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager()
    tenant_lookup = "pk"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    APPROVER = "approver", "Approver"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="membership_unique_user_per_org")]
        indexes = [models.Index(fields=["org", "role"])]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.org_id}:{self.role}"


class Team(TenantOwned):
    """A group of members; its Django group carries django-guardian grants to the team."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63)
    description = models.TextField(blank=True)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "slug"], name="team_unique_slug_per_org")]

    def __str__(self) -> str:
        return f"{self.org_id}/{self.slug}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.group_id is None:
            self.group = Group.objects.create(name=f"team:{self.id}")
        super().save(*args, **kwargs)


class TeamMembership(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="team_memberships")
    is_lead = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_membership_unique_user")]


class ApiKeyQuerySet(TenantQuerySet):
    def active(self) -> ApiKeyQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiKey(TenantOwned):
    """A program's credential, bound to one user in one organisation; only its hash is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = models.Manager.from_queryset(ApiKeyQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "user"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class LimitOverride(TenantOwned):
    """Guardrail limits for one team or one member of an organisation, set by staff in the admin.

    A member's row replaces that member's `user_*` values (rates, token quotas, cost budgets);
    a team's row adds `team_*` limits that every member of the team shares. Values follow
    `settings.PLAN_LIMITS`: whole numbers, cost budgets in the catalogue's currency, null for off.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="limit_overrides")
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="limit_overrides")
    limits = models.JSONField(default=dict)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(team__isnull=True) ^ models.Q(user__isnull=True), name="limit_override_one_subject"
            ),
            models.UniqueConstraint(fields=["org", "team"], name="limit_override_unique_team"),
            models.UniqueConstraint(fields=["org", "user"], name="limit_override_unique_user"),
        ]

    def __str__(self) -> str:
        return f"limits for {self.team or self.user} in {self.org_id}"
