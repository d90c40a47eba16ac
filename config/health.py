"""Probes for load balancers and orchestrators. Neither needs a login."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving; touches nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "ok (eager: no broker configured)"
    with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    return "ok"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachable: 200, else 503 naming what failed."""
    checks: dict[str, str] = {}
    ready = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:
            # The probe is public: name the failure, keep hosts and credentials in the log.
            logger.warning("readyz: %s check failed", name, exc_info=True)
            ready = False
            checks[name] = f"error: {type(exc).__name__}"
    return JsonResponse({"status": "ok" if ready else "error", "checks": checks}, status=200 if ready else 503)
