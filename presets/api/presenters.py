"""Turning a preset and the caller's access into the detail response."""

from __future__ import annotations

from typing import Any

from presets.api.serializers import PresetDetailSerializer
from presets.models import Preset
from presets.selectors import Access, readable_version, version_content


def preset_detail(preset: Preset, access: Access, *, number: int | None = None) -> dict[str, Any]:
    """The preset with the content of the version this reader sees; the prompt is hidden below `view`."""
    number = number or readable_version(preset, access)
    if number is None:
        content = None
    elif number == preset.version:
        content = preset.content()
    else:
        content = version_content(preset_id=preset.pk, number=number)
    context = {"access": access, "content": content, "content_version": number, "prompt_hidden": access < Access.VIEW}
    return PresetDetailSerializer(preset, context=context).data
