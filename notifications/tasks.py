"""Celery tasks: thin wrappers around the services of the same name."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Beat runs it every ``ESCALATION_SWEEP_SECONDS`` (expiring after one interval, so a backlog
    built while workers were away does not run a hundred sweeps in a row)."""
    result = services.sweep()
    return {"steps": result.steps, "breaches": result.breaches, "requeued": result.requeued}


# acks_late + reject_on_worker_lost: a message is acknowledged only once the task has finished,
# and a pool process killed mid-send (SIGKILL, OOM) puts it back on the queue instead of acking
# it as failed. A whole worker killed leaves it unacked in Redis until the visibility timeout;
# the sweep takes the row back long before (its lease).
@shared_task(name="notifications.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(notification_id: int) -> str:
    return services.notification_deliver(notification_id=notification_id)
