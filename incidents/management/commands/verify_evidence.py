"""``manage.py verify_evidence [--incident REF]``: re-hash every stored evidence file (streaming)
and check every chain of custody.

One line per problem, ``<reference> evidence <id> “<name>”: <problem>`` (file missing, file
changed, text changed, evidence record edited, custody event edited / inserted / deleted, head
mismatch), then a summary; the exit status is 1 if there was any. Each item found intact gets a
``verify`` custody event (actor: system), so the chain itself says when it was last checked.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.evidence import services
from incidents.models import Evidence, Incident


class Command(BaseCommand):
    help = "Re-hash stored evidence files and check every chain of custody; exit status 1 on any problem."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--incident", metavar="REF", help="only this incident's evidence (e.g. IR-2026-0042)")

    def handle(self, *args, incident: str | None = None, **options) -> None:
        items = Evidence.objects.select_related("incident", "collected_by").order_by("incident__reference", "id")
        if incident:
            if not Incident.objects.filter(reference=incident).exists():
                raise CommandError(f"No incident {incident}.")
            items = items.filter(incident__reference=incident)
        checked = failed = problems = events = 0
        incidents: set[int] = set()
        for evidence in items.iterator(chunk_size=200):
            checked += 1
            incidents.add(evidence.incident_id)
            found = services.evidence_verify(evidence)
            if found:
                failed += 1
                problems += len(found)
                for problem in found:
                    self.stdout.write(
                        f"{evidence.incident.reference} evidence {evidence.pk} “{evidence.name}”: {problem}"
                    )
                continue
            events += evidence.custody_count
            services.evidence_verified(evidence=evidence)
        scope = f" of {incident}" if incident else f" on {len(incidents)} incident{'' if len(incidents) == 1 else 's'}"
        if problems:
            raise CommandError(
                f"{problems} problem{'' if problems == 1 else 's'} in {failed} of {checked} evidence items{scope}; "
                f"the {checked - failed} intact were recorded as verified."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Verified {checked} evidence item{'' if checked == 1 else 's'}{scope}: content and {events} custody "
                f"event{'' if events == 1 else 's'} intact; a verify event was recorded on each."
            )
        )
