"""Celery tasks: thin wrappers around the services of the same name."""

from __future__ import annotations

from celery import shared_task

from . import invitations


@shared_task(name="accounts.end_expired_access", ignore_result=True)
def end_expired_access() -> int:
    """Beat runs it every minute (``CELERY_BEAT_SCHEDULE``). Access already ends at expiry
    without it (the visibility rule compares ``expires_at`` with the database's clock); it
    records the removal, deactivates collaborators left with nothing and ends their sessions."""
    return invitations.end_expired_access()
