"""Celery tasks of the timeline: thin wrappers around the services of the same name
(``timeline.imports``), which record every outcome on the ``TimelineImport`` row themselves, so
a task never raises for a bad file (nor, run eagerly, into the request that enqueued it)."""

from __future__ import annotations

from celery import shared_task

from . import imports


@shared_task(name="timeline.import_check")
def import_check(import_id: int) -> None:
    imports.import_check(import_id=import_id)


@shared_task(name="timeline.import_apply")
def import_apply(import_id: int, actor_id: int) -> None:
    imports.import_apply(import_id=import_id, actor_id=actor_id)
