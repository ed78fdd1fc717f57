"""LiteLLM's proxy in a virtualenv of its own, outside the repository, installed on first use.

The bench pins one `litellm[proxy]` release so that runs compare against the same code. It is
never a project dependency: the virtualenv lives under ~/.cache/chatpresets-bench (or
$CHATPRESETS_BENCH_CACHE) and is reused while its marker file says the install finished.
matplotlib, for the chart, goes into the same virtualenv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PINNED_VERSION = "1.108.7"
# Tried in order when the pin does not install on this interpreter (newest first).
FALLBACK_TRIES = 3
INSTALL_TIMEOUT_SECONDS = 1800
MARKER = "chatpresets-bench.json"  # written when an install finished


@dataclass(frozen=True)
class LiteLLMEnv:
    version: str
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def litellm(self) -> Path:
        return self.root / "bin" / "litellm"


def cache_dir() -> Path:
    return Path(os.environ.get("CHATPRESETS_BENCH_CACHE", Path.home() / ".cache" / "chatpresets-bench"))


def ensure_litellm(pinned: str = PINNED_VERSION) -> LiteLLMEnv:
    """The pinned release if it installs, otherwise the newest release that does."""
    installed = _installed(pinned)
    if installed:
        return installed
    for version in [pinned, *_newer_releases(pinned)]:  # the package index is asked only if the pin fails
        env = LiteLLMEnv(version, cache_dir() / f"litellm-{version}")
        if _marker(env).exists() or _install(env):
            return env
    raise SystemExit(f"litellm[proxy]=={pinned} does not install here, nor any of the newest releases")


def _installed(pinned: str) -> LiteLLMEnv | None:
    """The pinned release if its install finished, else a newer one installed when the pin did not."""
    folders = [marker.parent for marker in cache_dir().glob(f"litellm-*/{MARKER}")]
    found = {folder.name.removeprefix("litellm-"): folder for folder in folders}
    newer = [version for version in found if _release(version) > _release(pinned)]
    version = pinned if pinned in found else max(newer, key=_release, default=None)
    return LiteLLMEnv(version, found[version]) if version else None


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def ensure_matplotlib(env: LiteLLMEnv) -> Path:
    """The bench virtualenv's python, with matplotlib in it (the project does not depend on it)."""
    probe = subprocess.run([env.python, "-c", "import matplotlib"], capture_output=True)
    if probe.returncode != 0:
        _pip(env, "matplotlib")
    return env.python


def _marker(env: LiteLLMEnv) -> Path:
    return env.root / MARKER


def _install(env: LiteLLMEnv) -> bool:
    print(f"installing litellm[proxy]=={env.version} into {env.root} (first run only)", file=sys.stderr)
    env.root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", env.root], check=True)
    try:
        _pip(env, "--upgrade", "pip")
        _pip(env, f"litellm[proxy]=={env.version}")
    except subprocess.CalledProcessError:
        return False
    _marker(env).write_text(json.dumps({"litellm": env.version, "python": sys.version.split()[0]}))
    return True


def _pip(env: LiteLLMEnv, *args: str) -> None:
    # The machine's constraints file pins the project's own packages; LiteLLM brings its own.
    quiet = {**os.environ, "PIP_CONSTRAINT": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    command = [str(env.python), "-m", "pip", "install", "--quiet", *args]
    subprocess.run(command, check=True, env=quiet, timeout=INSTALL_TIMEOUT_SECONDS)


def _newer_releases(pinned: str) -> list[str]:
    """The newest few releases after the pin, as the package index lists them (one lookup)."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "litellm"], capture_output=True, text=True
    )
    for line in listing.stdout.splitlines():
        if line.startswith("Available versions:"):
            versions = [v.strip() for v in line.partition(":")[2].split(",")]
            return [v for v in versions if v != pinned][:FALLBACK_TRIES]
    return []
