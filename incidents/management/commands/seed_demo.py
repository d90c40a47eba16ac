"""Demo data for development: people for each role and a handful of realistic incidents.

Idempotent: a second run changes nothing. Refuses to run with production settings, since the
demo users have well-known passwords.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from incidents import services
from incidents.models import Category, Incident, MemberRole, Playbook, Resolution, Severity, Status

# Development-only credentials, printed by `make run`.
DEMO_PASSWORD = "breachline-demo"
DEMO_USERS = [
    # username, first, last, role, is_staff/superuser
    ("admin", "Ada", "Admin", Role.ADMIN, True),
    ("lead", "Lena", "Lead", Role.LEAD, False),
    ("responder", "Ravi", "Responder", Role.RESPONDER, False),
    ("exec", "Erin", "Executive", Role.EXECUTIVE, False),
    ("vendor", "Victor", "Vendor", Role.VENDOR, False),
]


class Command(BaseCommand):
    help = "Create demo users and incidents (development only; safe to run twice)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-if-seeded", action="store_true", help="print nothing when already seeded")

    def handle(self, *args, quiet_if_seeded: bool = False, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates users with known passwords; it does not run in production.")
        if User.objects.filter(username="lead").exists():
            if not quiet_if_seeded:
                self.stdout.write("Demo data already present; nothing to do.")
            return
        with transaction.atomic():
            users = self._users()
            self._incidents(users)
        self.stdout.write(self.style.SUCCESS(f"Seeded {Incident.objects.count()} incidents and {len(users)} users."))

    def _users(self) -> dict[str, User]:
        users = {}
        for username, first, last, role, staff in DEMO_USERS:
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                role=role,
                email=f"{username}@example.com",
                is_staff=staff,
                is_superuser=staff,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            users[username] = user
        return users

    def _incidents(self, users: dict[str, User]) -> None:
        lead, responder, vendor, executive = users["lead"], users["responder"], users["vendor"], users["exec"]
        now = timezone.now()

        ai = services.incident_open(
            title="Restricted internal AI model accessed through contractor environment",
            opened_by=lead,
            lead=lead,
            severity=Severity.CRITICAL,
            category=Category.THIRD_PARTY,
            restricted=True,
            tags=["contractor", "ml-platform", "gdpr"],
            personal_data=True,
            records_affected=18_400,
            detected_at=now - timedelta(hours=30),
            summary=(
                "Model weights and the evaluation dataset of our **internal-only** assistant model were "
                "pulled from the ML artifact store using a service token issued to *Northwind Data Labs*, "
                "a labelling contractor.\n\n"
                "- Token was created for the contractor's CI runner and never rotated\n"
                "- Downloads came from an IP outside the contractor's published ranges\n"
                "- The evaluation set contains customer support transcripts (personal data)\n\n"
                "Need-to-know: do not discuss outside the response team."
            ),
        )
        services.member_add(incident=ai, user=responder, actor=lead, role=MemberRole.RESPONDER)
        # The contractor's security contact contributes (findings, their own tasks); the CISO reads.
        services.member_add(incident=ai, user=vendor, actor=lead, role=MemberRole.RESPONDER)
        services.member_add(incident=ai, user=executive, actor=lead, role=MemberRole.OBSERVER)
        services.incident_transition(incident=ai, to=Status.TRIAGE, actor=lead)
        services.incident_transition(incident=ai, to=Status.INVESTIGATING, actor=lead)
        services.finding_add(
            incident=ai,
            author=responder,
            body="Artifact store audit log shows 212 GET requests for `models/assistant-v3/*` between "
            "02:10 and 02:47 UTC from `203.0.113.77`, authenticated with token `svc-nw-ci`.",
        )
        services.finding_add(
            incident=ai,
            author=lead,
            body="Northwind confirms a developer laptop with the CI token in a `.env` file was infected "
            "with an info-stealer last week.",
            internal=False,  # shared with Northwind's contact
        )
        services.task_add(
            incident=ai, actor=lead, title="Revoke svc-nw-ci and every other Northwind token",
            assignee=responder, due_on=now.date(),
        )  # fmt: skip
        services.task_add(
            incident=ai, actor=lead, title="Assess GDPR notification for transcripts in eval set",
            assignee=lead, due_on=(now + timedelta(days=2)).date(),
        )  # fmt: skip
        services.task_add(
            incident=ai, actor=lead, title="Send the EDR timeline of the infected developer laptop",
            assignee=vendor, due_on=(now + timedelta(days=1)).date(), internal=False,
        )  # fmt: skip

        phish = services.incident_open(
            title="Invoice-themed phishing wave against finance team",
            opened_by=responder,
            lead=lead,
            severity=Severity.HIGH,
            category=Category.PHISHING,
            detected_at=now - timedelta(days=3),
            summary="37 messages from a look-alike domain of our payments provider; 4 users clicked.",
        )
        services.incident_transition(incident=phish, to=Status.INVESTIGATING, actor=lead)
        services.incident_transition(incident=phish, to=Status.CONTAINED, actor=lead)
        services.finding_add(incident=phish, author=responder, body="Sender domain blocked at the mail gateway.")
        services.task_add(incident=phish, actor=responder, title="Reset passwords of the 4 users who clicked",
                          assignee=responder)  # fmt: skip

        msp = services.incident_open(
            title="Managed service provider's RMM tool used to push unsigned script",
            opened_by=lead,
            lead=lead,
            severity=Severity.HIGH,
            category=Category.THIRD_PARTY,
            detected_at=now - timedelta(days=1, hours=4),
            summary="EDR flagged a PowerShell script pushed through the MSP's remote-management agent to 12 hosts.",
            playbook=Playbook.objects.get(slug="third-party-compromise"),
            tags=["msp", "rmm"],
        )
        services.incident_transition(incident=msp, to=Status.TRIAGE, actor=lead)

        services.incident_open(
            title="Unusual volume of failed VPN logins",
            opened_by=responder,
            severity=Severity.MEDIUM,
            category=Category.ACCOUNT_COMPROMISE,
            detected_at=now - timedelta(hours=5),
            summary="Password-spraying pattern from a residential proxy network.",
        )

        old = services.incident_open(
            title="Lost laptop with encrypted disk",
            opened_by=responder,
            severity=Severity.LOW,
            category=Category.OTHER,
            detected_at=now - timedelta(days=20),
        )
        services.incident_close(
            incident=old,
            actor=responder,
            resolution=Resolution.BENIGN,
            closing_summary="Disk encryption confirmed by IT; the laptop was wiped remotely.",
        )
