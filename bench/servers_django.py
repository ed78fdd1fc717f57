"""Django in a bench process that starts servers of its own: settings from the environment, DEBUG off,
and a catalogue whose one model, `fake`, points nowhere. The bench process only validates presets
against it; the servers it starts get the fake model's real address."""

from __future__ import annotations

import json
import os

import django

PLACEHOLDER_MODEL = {"name": "fake", "base_url": "http://127.0.0.1:9/v1", "encoding": "o200k_base"}


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
    os.environ["DEBUG"] = "false"
    os.environ["MODEL_CATALOGUE"] = json.dumps([{**PLACEHOLDER_MODEL, "context_window": 8192, "max_output": 64}])
    os.environ["DEFAULT_MODEL"] = "fake"
    django.setup()
