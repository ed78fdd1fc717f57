"""docs/ui.md shows pictures that exist, and docs/ui/ holds no picture it does not show."""

from __future__ import annotations

import re

from tests.server import ROOT


def test_every_picture_docs_ui_shows_exists_and_none_lies_unused() -> None:
    doc = (ROOT / "docs" / "ui.md").read_text()
    shown = set(re.findall(r"\]\((ui/[^)]+\.png)\)", doc))
    on_disk = {f"ui/{path.name}" for path in (ROOT / "docs" / "ui").glob("*.png")}
    assert shown
    assert shown == on_disk
