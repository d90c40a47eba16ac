"""Celery tasks: thin wrappers around the services of the same name."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep(wake_up: bool = True) -> dict[str, int]:
    """Beat runs it every ``ESCALATION_SWEEP_SECONDS`` (expiring after one interval, so a backlog
    built while workers were away does not run a hundred sweeps in a row).

    Beat's sweep also books one extra sweep at the earliest step or SLA falling due before the
    next beat, so a page goes out when it is due rather than up to an interval later; that extra
    sweep books none (``wake_up=False``), so wake-ups never multiply. Beat stays the safety net."""
    result = services.sweep()
    if wake_up:
        interval = timedelta(seconds=settings.ESCALATION_SWEEP_SECONDS)
        due = services.next_due(within=interval)
        if due is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
            try:
                sweep.apply_async(kwargs={"wake_up": False}, eta=due, expires=due + interval)
            except Exception:
                logger.warning("Could not book a sweep for %s", due, exc_info=True)
    return {"steps": result.steps, "breaches": result.breaches, "requeued": result.requeued}


# acks_late + reject_on_worker_lost: a message is acknowledged only once the task has finished,
# and a pool process killed mid-send (SIGKILL, OOM) puts it back on the queue instead of acking
# it as failed. A whole worker killed leaves it unacked in Redis until the visibility timeout;
# the sweep takes the row back long before (its lease).
@shared_task(name="notifications.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(notification_id: int) -> str:
    return services.notification_deliver(notification_id=notification_id)
