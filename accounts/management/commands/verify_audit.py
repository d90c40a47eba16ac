"""``manage.py verify_audit``: walk the audit chain and report every break in it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import chain_head, chain_problems


class Command(BaseCommand):
    help = (
        "Recompute every audit entry's hash in id order. Prints one line per problem (an edited, "
        "deleted or inserted entry) and exits 1; else prints the count and the head's hash and exits 0."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = 0
        for line in chain_problems():
            problems += 1
            self.stdout.write(line)
        count, head = chain_head()
        if problems:
            # CommandError exits with status 1 and prints to stderr.
            raise CommandError(f"{problems} problem{'s' if problems != 1 else ''} in {count} entries.")
        # The head's hash, kept elsewhere, is what shows the newest entries were not cut off.
        self.stdout.write(f"{count} entries, chain intact (head {head})")
