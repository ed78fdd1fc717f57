"""Production settings pass Django's deployment checks; bad configuration fails loudly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.server import ROOT

PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x" * 20 + "-production-secret-key-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "chat.example.com",
    "AUDIT_SIGNING_KEY": "audit-seal-key-for-the-deploy-check",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_an_audit_signing_key() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "AUDIT_SIGNING_KEY": ""})
    assert result.returncode != 0
    assert "audit.W001" in result.stdout + result.stderr


def test_production_refuses_to_start_without_secret_key() -> None:
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION["SECRET_KEY"] + "\n")
    env = {**PRODUCTION, "SECRET_KEY": "", "SECRET_KEY_FILE": str(secret_file)}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr


def test_unknown_environment_name_fails_loudly() -> None:
    result = manage("check", env={"DJANGO_ENV": "prod"})
    assert result.returncode != 0
    assert "DJANGO_ENV" in result.stderr


def test_bad_boolean_fails_loudly() -> None:
    result = manage("check", env={"DEBUG": "maybe"})
    assert result.returncode != 0


def test_bad_integer_fails_loudly() -> None:
    result = manage("check", env={"DATABASE_CONN_MAX_AGE": "ten"})
    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE" in result.stderr


@pytest.mark.parametrize("factor", ["0.5", "nan"])
def test_a_target_factor_under_one_fails_loudly(factor: str) -> None:
    result = manage("check", env={"TURN_ADMISSION_TARGET_FACTOR": factor})
    assert result.returncode != 0
    assert "TURN_ADMISSION_TARGET_FACTOR" in result.stderr
    assert manage("check", env={"TURN_ADMISSION_TARGET_FACTOR": "0"}).returncode == 0


def test_an_empty_multiprocess_directory_fails_loudly() -> None:
    result = manage("check", env={"PROMETHEUS_MULTIPROC_DIR": ""})
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR is empty" in result.stderr
