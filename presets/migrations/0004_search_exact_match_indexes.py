"""Expression indexes for exact slug and name matches in search (presets.search.EXACT)."""

from __future__ import annotations

from django.db import migrations, models
from django.db.models.functions import Lower


class Migration(migrations.Migration):
    dependencies = [("presets", "0003_list_indexes")]
    operations = [
        migrations.AddIndex(model_name="preset", index=models.Index(Lower("slug"), name="preset_lower_slug")),
        migrations.AddIndex(model_name="preset", index=models.Index(Lower("name"), name="preset_lower_name")),
    ]
