"""Load ``config/settings.py`` afresh under a chosen environment, beside the running settings.

A new module object each time (never ``django.conf.settings``), so a test sees exactly what a
process started with that environment would configure, in milliseconds rather than a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

SETTINGS = Path(__file__).resolve().parents[2] / "config" / "settings.py"


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """The settings module as ``env`` configures it; DATABASE_*, EVIDENCE_* and DJANGO_ENV
    from the test run's own environment are dropped first."""
    for name in list(os.environ):
        if name.startswith(("DATABASE_", "EVIDENCE_")) or name == "DJANGO_ENV":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Named inside the config package, so settings' relative import (.env) resolves.
    spec = importlib.util.spec_from_file_location("config._settings_under_test", SETTINGS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
