"""The current second-factor code of a demo user (development only).

``seed_demo`` gives the demo users whose role requires a second factor (admin, lead, vendor) a
confirmed authenticator, so a newcomer can sign in as them without an app: ``manage.py demo_totp
lead`` prints the six digits the app would show now. Refuses in production, and for anyone but
the demo users.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.oath import TOTP

from accounts.mfa import confirmed_totp_device
from accounts.models import User

DEMO_USERNAMES = ("admin", "lead", "responder", "exec", "vendor", "counsel")


class Command(BaseCommand):
    help = "Print a demo user's current TOTP code (development only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", choices=DEMO_USERNAMES)

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo_totp is for the development demo only.")
        user = User.objects.filter(username=username).first()
        device = confirmed_totp_device(user) if user is not None else None
        if device is None:
            raise CommandError(f"{username} has no authenticator: run seed_demo first (or enrol in the app).")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        self.stdout.write(f"{totp.token():0{device.digits}d}")
