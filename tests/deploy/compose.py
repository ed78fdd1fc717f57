"""deploy/docker-compose.yml under this machine's Docker engine, on images it can build here.

Docker Hub is out of reach, so the official images the compose file names are stood in for by images
built on a debootstrapped Debian (tests/deploy/images/README.md); the compose file and the Dockerfile
take them through their `*_IMAGE` variables and run otherwise as an operator runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.server import ROOT

IMAGES = Path(__file__).resolve().parent / "images"
# Each stand-in and the Debian release it is built on. nginx needs 1.27.3 or later for `resolve` (the
# compose file's nginx follows the web replicas' addresses): bookworm has 1.22, forky 1.30.
STAND_INS = {
    "python": "bookworm",
    "postgres": "bookworm",
    "redis": "bookworm",
    "rabbitmq": "bookworm",
    "nginx": "forky",
}
TRUST_STORE = Path("/etc/ssl/certs/ca-certificates.crt")  # pip inside the build reaches PyPI through it


def engine_problem() -> str | None:
    """Why compose cannot run here (bin/ensure-docker sets it up), or None."""
    if shutil.which("docker") is None:
        return "no docker command"
    for command in (["docker", "info"], ["docker", "compose", "version"]):
        if subprocess.run(command, capture_output=True).returncode != 0:
            return f"`{' '.join(command)}` failed"
    return None


def run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command and return its output; a failure raises with the output's end."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}… failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout


def image_id(name: str) -> str:
    """The id of the image tagged name, or "" when there is none."""
    result = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def base(suite: str) -> str:
    """A minimal Debian `suite`, debootstrapped once and kept as an image; returns its tag."""
    tag = f"chatpresets-test/debian:{suite}"
    if image_id(tag):
        return tag
    with tempfile.TemporaryDirectory() as directory:
        rootfs = Path(directory) / "rootfs"
        # Every release since buster bootstraps as sid does; bookworm's debootstrap has no script named forky.
        script = "/usr/share/debootstrap/scripts/sid"
        command = ["debootstrap", "--variant=minbase", suite, str(rootfs), "http://deb.debian.org/debian", script]
        run(command, timeout=900)
        archive = Path(directory) / "rootfs.tar"
        run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], timeout=300)
        run(["docker", "import", str(archive), tag], timeout=300)
    return tag


def build_stand_ins() -> dict[str, str]:
    """Build (or find in the build cache) each stand-in; returns the compose variables naming them."""
    names = {}
    for name, suite in STAND_INS.items():
        tag = f"chatpresets-test/{name}:{suite}"
        with tempfile.TemporaryDirectory() as context:
            shutil.copytree(IMAGES / name, context, dirs_exist_ok=True)
            if name == "python":
                shutil.copy(TRUST_STORE, Path(context) / "ca-certificates.crt")
            run(["docker", "build", "-q", "--build-arg", f"BASE={base(suite)}", "-t", tag, context], timeout=900)
        names[f"{name.upper()}_IMAGE"] = tag
    return names


def self_signed_certificate(directory: Path) -> Path:
    """tls.crt and tls.key for localhost in directory, as TLS_DIR wants them; returns the certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt"),
        ],
        timeout=60,
    )  # fmt: skip
    return directory / "tls.crt"


def service_states(compose: list[str], env: dict[str, str]) -> list[dict]:
    """Each container of the project: its service, state and exit code."""
    output = run([*compose, "ps", "--all", "--format", "json"], timeout=60, env=env)
    lines = [line for line in output.splitlines() if line.strip()]
    if len(lines) == 1 and lines[0].startswith("["):  # compose releases differ: one array or a line each
        return json.loads(lines[0])
    return [json.loads(line) for line in lines]
