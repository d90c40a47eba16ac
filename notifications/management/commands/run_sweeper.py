"""Run the escalation sweep in a loop, in this process: escalation without a broker.

``make run`` starts it beside the development server (Celery is eager there, so beat does not
run). With a broker, beat schedules the same sweep (``make beat``) and this command is not needed;
running both is harmless (rows are claimed with SKIP LOCKED and notifications are unique).
"""

from __future__ import annotations

import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from notifications.services import sweep


class Command(BaseCommand):
    help = "Fire due escalation steps and SLA breaches every ESCALATION_SWEEP_SECONDS (Ctrl-C to stop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=None, help="Seconds between sweeps (default ESCALATION_SWEEP_SECONDS)."
        )
        parser.add_argument("--once", action="store_true", help="Sweep once and exit.")

    def handle(self, *args: Any, interval: float | None, once: bool, **options: Any) -> None:
        interval = interval if interval is not None else float(settings.ESCALATION_SWEEP_SECONDS)
        if interval <= 0:
            self.stderr.write("--interval must be positive.")
            raise SystemExit(2)
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        while True:
            close_old_connections()
            try:
                result = sweep()
            except Exception as exc:  # noqa: BLE001 - keep sweeping: a locked SQLite file, a DB restart
                self.stderr.write(f"sweep failed: {type(exc).__name__}: {exc}")
            else:
                if result.steps or result.breaches or result.requeued or once:
                    self.stdout.write(
                        f"swept: {result.steps} escalation steps, {result.breaches} SLA breaches, "
                        f"{len(result.notifications)} notifications, {result.requeued} re-enqueued"
                    )
            if once or stopping:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
            if stopping:
                return
