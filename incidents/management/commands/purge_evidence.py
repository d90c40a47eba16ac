"""``manage.py purge_evidence --incident REF``: delete the stored files of a closed incident's
evidence, unless the incident is under legal hold (then nothing is deleted and the exit status
is 1). The evidence rows, hashes and chains of custody stay; each purged item gets a ``purge``
custody event and the incident an activity entry."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.evidence import services
from incidents.models import Incident


class Command(BaseCommand):
    help = "Delete the evidence files of a closed incident that is not under legal hold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--incident", metavar="REF", required=True, help="the closed incident (e.g. IR-2026-0042)")

    def handle(self, *args, incident: str, **options) -> None:
        case = Incident.objects.filter(reference=incident).first()
        if case is None:
            raise CommandError(f"No incident {incident}.")
        try:
            purged = services.evidence_purge(incident=case)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if not purged:
            self.stdout.write(f"{case.reference}: no evidence files left to purge.")
            return
        for evidence in purged:
            self.stdout.write(f"{case.reference} evidence {evidence.pk} “{evidence.name}”: file purged")
        self.stdout.write(
            self.style.SUCCESS(
                f"Purged {len(purged)} evidence file{'' if len(purged) == 1 else 's'} of {case.reference}."
            )
        )
