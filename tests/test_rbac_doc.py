"""docs/rbac.md is exactly what the code enforces."""

from __future__ import annotations

from tenancy.rbac_doc import render
from tests.server import ROOT


def test_rbac_doc_matches_the_code() -> None:
    assert (ROOT / "docs" / "rbac.md").read_text() == render(), "regenerate: manage.py rbac_doc > docs/rbac.md"
