"""Per-version analytics: the preset and the kind of turn on each answer, and the indexes reading them.

Answers written before this migration take their conversation's current preset (when they recorded
a preset version) and count as new questions: regenerations and edits are only known from now on.
"""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = """
UPDATE conversations_message AS m SET preset_id = c.preset_id
FROM conversations_conversation AS c
WHERE m.conversation_id = c.id AND m.preset_version IS NOT NULL AND c.preset_id IS NOT NULL;
UPDATE conversations_message SET turn_kind = 'new' WHERE role = 'assistant';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0010_conversation_label"),
        ("presets", "0006_link_use_per_person"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="preset",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="presets.preset",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="turn_kind",
            field=models.CharField(
                blank=True,
                choices=[
                    ("new", "New question"),
                    ("regenerate", "Regenerated answer"),
                    ("edit", "Answer to an edited question"),
                ],
                max_length=10,
            ),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("role", "assistant")),
                fields=["preset", "created_at"],
                include=[
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
                ],
                name="message_preset_answers",
            ),
        ),
        migrations.AddIndex(
            model_name="feedback",
            index=models.Index(
                fields=["org", "created_at"], include=["message", "vote"], name="feedback_org_recent"
            ),
        ),
    ]
