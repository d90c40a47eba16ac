from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import User
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it once (alone on the last line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--scopes", required=True, help="comma-separated, e.g. incidents:read,incidents:write")
        parser.add_argument("--user", help="username the key acts as (default: its own integration user)")
        parser.add_argument("--expires-in-days", type=int, help="the key stops working after this many days")

    def handle(self, *args, name: str, scopes: str, user: str | None, expires_in_days: int | None, **options) -> None:
        owner = None
        if user:
            owner = User.objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user named {user!r}.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            key, raw_key = api_key_create(
                name=name,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                user=owner,
                expires_at=expires_at,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        expiry = key.expires_at.isoformat() if key.expires_at else "never"
        self.stderr.write(
            f"Created key {key.name!r} for {key.user.username}, scopes {','.join(key.scopes)}, expires {expiry}."
        )
        self.stderr.write("Store it now: it cannot be shown again.")
        self.stdout.write(raw_key)
