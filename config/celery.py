"""Celery application.

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process (the embedded default
used by ``make run`` and by tests that do not need a broker); with it, they go through the
broker to real workers.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("breachline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
