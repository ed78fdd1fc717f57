"""Conversations and their messages.

Each message stores its token count when written, so building a prompt reads only the newest
rows that fit and never re-tokenizes history. A conversation either pins a preset version, follows
one of the preset's labels, or follows the preset's newest approved version.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from presets.models import Via
from tenancy.scoping import TenantOwned, TenantQuerySet


class ConversationQuerySet(TenantQuerySet):
    def alive(self) -> ConversationQuerySet:
        return self.filter(deleted_at__isnull=True)


class Conversation(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    preset = models.ForeignKey(
        "presets.Preset", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    preset_version = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: follow latest approved.")
    # Following a label of the preset (presets.labels) instead: resolved to its version at every turn.
    preset_label = models.CharField(max_length=40, blank=True, help_text="Empty: no label followed.")
    # A preset of another organisation is used through the gallery or a share link (presets.Via),
    # and only while that route still grants it; empty for a preset of the conversation's own org.
    preset_via = models.CharField(max_length=10, blank=True, choices=[("", "Own organisation"), *Via.choices])
    preset_link = models.ForeignKey(
        "presets.PresetLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The experiment this conversation joined when it started, and its variant (whose preset and
    # version are pinned above): presets.experiments.assignment; results count through these.
    experiment = models.ForeignKey(
        "presets.Experiment", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    experiment_variant = models.ForeignKey(
        "presets.ExperimentVariant", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    variables = models.JSONField(default=dict, blank=True)
    model_override = models.CharField(max_length=100, blank=True)
    params_override = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    # Placeholder -> original for `redact_for_model`, so every turn sends the model the same
    # placeholders for the same values and answers are restored; empty under other PII modes.
    pii_vault = models.JSONField(default=dict, blank=True)
    summary_through_seq = models.PositiveIntegerField(default=0)
    summary_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["org", "user", "deleted_at", "-updated_at"], name="conversation_user_recent")]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


ANALYTICS_COLUMNS = [
    "id",
    "org",
    "conversation",
    "preset_version",
    "status",
    "turn_kind",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "ttft_ms",
]


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"
    FAILED = "failed", "Failed"


class TurnKind(models.TextChoices):
    """How an answer came to be asked for, so analytics count regenerations and edits per version."""

    NEW = "new", "New question"
    REGENERATE = "regenerate", "Regenerated answer"
    EDIT = "edit", "Answer to an edited question"


class Message(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    token_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.COMPLETE)
    error_code = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=100, blank=True)
    # The preset that answered, as of the turn: the conversation's preset may change later, and
    # per-version analytics read answers by (preset, created_at) without joining conversations.
    preset = models.ForeignKey(
        "presets.Preset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    preset_version = models.PositiveIntegerField(null=True, blank=True)
    turn_kind = models.CharField(max_length=10, blank=True, choices=TurnKind.choices)  # answers only
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=20, blank=True)
    client_id = models.CharField(max_length=100, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Replaced by a regenerated answer or an edited question: kept, but out of every later prompt.
    superseded = models.BooleanField(default=False)
    # What the PII guardrail found in this message: {"mode": ..., "entities": {"EMAIL": 1, ...}}.
    pii = models.JSONField(default=dict, blank=True)
    # An unfinished answer's quota reservations and API key: if its process dies, the sweep settles them.
    holds = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"], condition=~models.Q(client_id=""), name="message_unique_client_id"
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "-seq"], name="message_newest_first"),
            # Only unfinished answers, for the sweeper: small, and never a tempting plan for history reads.
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status__in=["pending", "streaming"]),
                name="message_unfinished",
            ),
            # Per-version analytics (conversations/analytics.py): a preset's answers over a period,
            # covering every column the report reads so the scan stays inside the index.
            models.Index(
                fields=["preset", "created_at"],
                include=ANALYTICS_COLUMNS,
                condition=models.Q(role="assistant"),
                name="message_preset_answers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.role}"


class UsageKind(models.TextChoices):
    CHAT = "chat", "Chat turn"
    COMPLETION_API = "completion_api", "OpenAI-compatible API"
    SUMMARY = "summary", "Running summary"
    TITLE = "title", "Title"
    REPLAY = "replay", "Replay before approval"


class UsageRecord(TenantOwned):
    """One row per model call: who, through which key and preset version, which model, tokens, cost, time."""

    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=20, choices=UsageKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("tenancy.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    preset = models.ForeignKey("presets.Preset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    preset_version = models.PositiveIntegerField(null=True, blank=True)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=100)
    status = models.CharField(max_length=12)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)  # prompt tokens the provider served from its cache
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)  # as the caller waited: retries included
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.JSONField(default=list, blank=True)  # the failed tries before this answer, if any

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["org", "-created_at"], name="usage_org_recent"),
            # The preset's analytics read its /v1 calls beside its chat answers (conversations/analytics.py).
            models.Index(
                fields=["preset", "created_at"],
                include=["org", "preset_version", "status", "prompt_tokens", "completion_tokens", "cost", "ttft_ms"],
                condition=models.Q(kind="completion_api"),
                name="usage_preset_api_calls",
            ),
        ]


class UsageDaily(TenantOwned):
    """One UTC day of UsageRecord summed per (user, API key, model, kind); written only by the roll-up.

    `conversations.usage.usage_rollup_day` recomputes a whole day, so a row is always derived, never
    edited. User and key are kept as plain ids (no database constraint, nothing done on delete):
    deleting a user or a key must neither erase billed usage nor fold two rows into one key.
    """

    day = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    api_key = models.ForeignKey(
        "tenancy.ApiKey", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    model = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=UsageKind.choices)
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)

    class Meta:
        constraints = [
            # A session call has no key and a deleted user's calls have no user: NULL is one value here.
            models.UniqueConstraint(
                fields=["org", "day", "user", "api_key", "model", "kind"],
                nulls_distinct=False,
                name="usage_daily_unique_key",
            ),
        ]
        indexes = [models.Index(fields=["day"], name="usage_daily_day")]  # the roll-up replaces a day at a time

    def __str__(self) -> str:
        return f"{self.org_id} {self.day} {self.model} {self.kind}"


class Vote(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class Feedback(TenantOwned):
    """A person's vote on an answer: one per user and message, changed in place when they vote again."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    vote = models.CharField(max_length=4, choices=Vote.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="feedback_one_per_user")]
        # Analytics read an organisation's votes since the period's start (a vote never predates its
        # answer), with the columns they need, instead of every vote the organisation ever cast.
        indexes = [models.Index(fields=["org", "created_at"], include=["message", "vote"], name="feedback_org_recent")]

    def __str__(self) -> str:
        return f"{self.message_id} {self.vote}"


# The replays package's models belong to this app (migrations and admin find them here).
from conversations.replays.models import PromptSet, Replay, ReplayItem  # noqa: E402, F401
