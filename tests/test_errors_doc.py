"""docs/errors.md lists every error code the code base can raise, with its status."""

from __future__ import annotations

import re

from django.urls import get_resolver
from django.utils.module_loading import autodiscover_modules

from chatpresets.errors import DomainError
from tests.server import ROOT

DOC = ROOT / "docs" / "errors.md"
ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \|", re.MULTILINE)
PACKAGES = {"chatpresets", "tenancy", "audit", "presets", "conversations"}
MODULES = ("api.urls", "services", "guardrails", "consumers", "turns", "admin")


def documented() -> set[tuple[str, int]]:
    return {(code, int(status)) for code, status in ROW.findall(DOC.read_text())}


def raised() -> set[tuple[str, int]]:
    _ = get_resolver().url_patterns  # every view module, and what it imports
    autodiscover_modules(*MODULES)  # and every app's modules that define errors
    found, pending = set(), [DomainError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES:
            found.add((cls.code, cls.status_code))
    return found


def test_every_domain_error_is_documented_with_its_status() -> None:
    missing = raised() - documented()
    assert not missing, f"add to docs/errors.md: {sorted(missing)}"


def test_the_walk_finds_errors_of_every_layer() -> None:
    codes = {code for code, _ in raised()}
    assert {"too_large", "quota_exceeded", "rate_limited", "safety_findings", "not_authenticated"} <= codes
