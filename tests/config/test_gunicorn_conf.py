"""config/gunicorn.conf.py: what production (and ``make bench``) serves the app with."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"


def test_workers_serve_the_wsgi_app_with_threads_and_a_long_timeout_for_uploads(monkeypatch):
    for name in ("GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    conf = runpy.run_path(str(CONF))

    assert conf["wsgi_app"] == "config.wsgi:application"
    # Workers sized to the cores: 2 x 2 + 1.
    assert (conf["worker_class"], conf["workers"], conf["threads"]) == ("gthread", 5, 4)
    assert conf["timeout"] == 600
    assert conf["bind"] == "127.0.0.1:8000"


def test_the_environment_sets_the_workers(monkeypatch):
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    assert runpy.run_path(str(CONF))["workers"] == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_each_worker_tunes_glibc_malloc_for_upload_buffers():
    conf = runpy.run_path(str(CONF))

    assert conf["MMAP_THRESHOLD_BYTES"] == 32 * 1024 * 1024
    assert conf["TRIM_THRESHOLD_BYTES"] == 256 * 1024 * 1024
    assert conf["tune_malloc"]() is True  # glibc accepted both values
