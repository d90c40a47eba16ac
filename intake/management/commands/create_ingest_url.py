"""``manage.py create_ingest_url --name splunk-prod --source splunk-prod --format splunk``: prints
the ingest URL once (for Splunk's webhook alert action, which cannot send an Authorization header)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from intake.models import AlertFormat
from intake.tokens import ingest_token_create


class Command(BaseCommand):
    help = "Create an ingest URL (a secret path token) for one SIEM source and format; shown once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--source", required=True, help="the source name its alerts carry, e.g. splunk-prod")
        parser.add_argument("--format", required=True, choices=AlertFormat.values)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where Breachline is served")

    def handle(self, *args: Any, name: str, source: str, format: str, base_url: str, **options: Any) -> None:
        try:
            token, raw = ingest_token_create(name=name, source=source, format=format)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"{base_url.rstrip('/')}/api/v1/ingest/{raw}/")
        self.stderr.write(f"Ingest URL {token.name} for {token.source} ({token.format}); shown once: store it now.")
