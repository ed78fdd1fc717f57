"""Front-end libraries are vendored, pinned and unchanged: static/vendor/MANIFEST.json records each file's sha256."""

from __future__ import annotations

import hashlib
import json
import re

from tests.server import ROOT

VENDOR = ROOT / "static" / "vendor"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text())
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    for name, package in MANIFEST.items():
        for file, digest in package["files"].items():
            assert hashlib.sha256((VENDOR / name / file).read_bytes()).hexdigest() == digest, f"{name}/{file}"


def test_nothing_is_vendored_without_a_record() -> None:
    on_disk = {path.relative_to(VENDOR).as_posix() for path in VENDOR.rglob("*") if path.is_file()}
    recorded = {f"{name}/{file}" for name, package in MANIFEST.items() for file in package["files"]}
    assert on_disk - {"MANIFEST.json"} == recorded


def test_each_package_is_pinned_with_its_licence() -> None:
    for name, package in MANIFEST.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"]), name
        assert package["license"], name
        assert "LICENSE" in package["files"], name
        assert package["source"].endswith(f"-{package['version']}.tgz"), name


def test_no_template_or_script_loads_anything_from_another_host() -> None:
    sources = [*(ROOT / "templates").rglob("*.html"), *(ROOT / "static").glob("js/**/*.js")]
    offenders = [str(path) for path in sources if REMOTE.search(path.read_text())]
    assert not offenders
