"""Settings: typed env helpers, and production settings that pass `check --deploy`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def test_env_helpers_parse_and_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 1) == 42
    assert env_list("X_LIST") == ["a.example", "b.example"]
    assert env_int("X_MISSING", 7) == 7
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "forty")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_BOOL")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_ENV"}}
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="breachline.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_ENV="production", ALLOWED_HOSTS="breachline.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_seed_demo_refuses_production():
    result = _manage(
        "seed_demo", DJANGO_ENV="production", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="x.example"
    )
    assert result.returncode != 0
    assert "does not run in production" in result.stderr
