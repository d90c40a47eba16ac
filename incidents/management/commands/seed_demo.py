"""Demo data for development: people for each role and a handful of realistic incidents.

Idempotent: a second run changes nothing. Refuses to run with production settings, since the
demo users have well-known passwords.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role, User
from accounts.services import api_key_create
from incidents import services
from incidents.evidence import services as evidence
from incidents.indicators import services as indicators
from incidents.models import (
    AccessKind,
    AccessState,
    Applicability,
    Category,
    Evidence,
    Incident,
    Indicator,
    MemberRole,
    Playbook,
    Regime,
    Resolution,
    ScopeKind,
    Severity,
    StartEvent,
    Status,
    Vendor,
    VendorQuestion,
    VendorRole,
)
from incidents.regulatory import services as register
from incidents.vendors import scope as affected_scope
from incidents.vendors import services as vendors
from intake import services as intake
from intake.models import Alert, AlertStatus
from intake.normalizers import NormalizedAlert
from notifications import services as paging
from notifications.models import (
    Channel,
    ChannelKind,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    SlaClock,
    SlaKind,
    SlaTarget,
)
from timeline import services as timeline
from timeline.models import EventKind as TimelineKind

# The history behind the dashboard: a fixed seed, so every `make run` shows the same numbers.
HISTORY_SEED = 20260315
HISTORY_DAYS = 120
# (title, category, severity, attacker techniques) to draw the history's incidents from.
HISTORY_KINDS = [
    ("Credential phishing against {team}", Category.PHISHING, Severity.MEDIUM, ["T1566.002", "T1078"]),
    ("Malicious attachment opened in {team}", Category.MALWARE, Severity.HIGH, ["T1566.001", "T1204.002"]),
    ("Ransomware staged on {team} file share", Category.RANSOMWARE, Severity.CRITICAL, ["T1021.001", "T1486"]),
    ("Password spraying against {team} accounts", Category.ACCOUNT_COMPROMISE, Severity.LOW, ["T1110.003"]),
    ("Cloud mailbox of {team} forwarding to outside", Category.ACCOUNT_COMPROMISE, Severity.HIGH,
     ["T1078.004", "T1114.002"]),
    ("Bulk upload from {team} to personal cloud storage", Category.DATA_EXFILTRATION, Severity.HIGH, ["T1567.002"]),
    ("Public web app of {team} exploited", Category.VULNERABILITY, Severity.CRITICAL, ["T1190", "T1059.001"]),
    ("Supplier remote access used against {team}", Category.THIRD_PARTY, Severity.HIGH, ["T1199", "T1133"]),
    ("Traffic flood against {team} portal", Category.DENIAL_OF_SERVICE, Severity.MEDIUM, ["T1498"]),
    ("Former contractor still reaching {team} systems", Category.INSIDER, Severity.MEDIUM, ["T1078"]),
]  # fmt: skip
HISTORY_TEAMS = ["finance", "HR", "sales", "engineering", "support", "legal", "marketing", "logistics"]
# Vendors the history involves, beyond the five the recent cases name: one per tier.
HISTORY_VENDORS = [
    ("Adatum Cloud Hosting", "critical", "Hosts the customer portal."),
    ("Woodgrove Payroll", "high", "Payroll processing."),
    ("Proseware HR Portal", "medium", "Applicant tracking."),
    ("Wide World Couriers", "low", "Parcel shipping labels."),
]
HISTORY_OPEN = 6  # of the 40, still open; the rest closed

# Development-only credentials, printed by `make run`.
DEMO_PASSWORD = "breachline-demo"
DEMO_USERS = [
    # username, first, last, role, is_staff/superuser
    ("admin", "Ada", "Admin", Role.ADMIN, True),
    ("lead", "Lena", "Lead", Role.LEAD, False),
    ("responder", "Ravi", "Responder", Role.RESPONDER, False),
    ("exec", "Erin", "Executive", Role.EXECUTIVE, False),
    ("vendor", "Victor", "Vendor", Role.VENDOR, False),
    # A responder with the counsel permission: decides notification duties, approves notices.
    ("counsel", "Cora", "Counsel", Role.RESPONDER, False),
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
        # The demo's pages go to an in-memory outbox, not this terminal; what the app sends while
        # `make run` serves goes to the console (EMAIL_BACKEND).
        outbox = override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
        with outbox, transaction.atomic():
            users = self._users()
            self._paging_setup(users)
            self._incidents(users)
            self._history(users)
            self._paging(users)
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
            user.counsel = username == "counsel"
            user.set_password(DEMO_PASSWORD)
            user.save()
            users[username] = user
            if role in (Role.ADMIN, Role.LEAD, Role.VENDOR):
                # Their role requires a second factor: an authenticator already enrolled, whose
                # current code `manage.py demo_totp <username>` prints (development only).
                TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
        return users

    def _paging_setup(self, users: dict[str, User]) -> None:
        """Channels and escalation policies, before the incidents open (opening starts them).
        SLA targets come from notifications' migration 0002."""
        mailbox = Channel.objects.create(name="SOC mailbox", kind=ChannelKind.EMAIL, target="soc@example.com")
        # Nothing listens there: its deliveries fail and retry, as the notification log shows.
        soar = Channel.objects.create(
            name="SOAR webhook (demo)", kind=ChannelKind.WEBHOOK, target="http://127.0.0.1:9/breachline"
        )
        Channel.objects.create(
            name="#ir-war-room", kind=ChannelKind.SLACK, active=False,
            target="https://hooks.slack.com/services/T0000000/B0000000/set-a-real-url-to-enable",
        )  # fmt: skip
        SlaTarget.objects.get(severity=Severity.CRITICAL).channels.add(mailbox)
        critical = EscalationPolicy.objects.create(name="Critical incidents", position=10, severities=["critical"])
        first = EscalationStep.objects.create(policy=critical, position=1)
        first.channels.add(mailbox, soar)
        second = EscalationStep.objects.create(
            policy=critical, position=2, delay=timedelta(minutes=10), include_lead=False
        )
        second.users.add(users["responder"])
        third = EscalationStep.objects.create(policy=critical, position=3, delay=timedelta(minutes=30))
        third.users.add(users["admin"])
        high = EscalationPolicy.objects.create(name="High incidents", position=20, severities=["high"])
        EscalationStep.objects.create(policy=high, position=1)
        later = EscalationStep.objects.create(policy=high, position=2, delay=timedelta(hours=1), include_lead=False)
        later.users.add(users["responder"])

    def _paging(self, users: dict[str, User]) -> None:
        """The ransomware incident the SIEM opened is still unacknowledged: as if it had opened
        20 minutes ago, two levels have paged, its acknowledge SLA is breached and the third
        level (the admin) pages 10 minutes into `make run`."""
        ago = timedelta(minutes=20)
        for escalation in Escalation.objects.filter(stopped_at__isnull=True, next_at__isnull=False):
            Escalation.objects.filter(pk=escalation.pk).update(
                started_at=escalation.started_at - ago, next_at=escalation.next_at - ago
            )
            for clock in SlaClock.objects.filter(incident=escalation.incident_id):
                SlaClock.objects.filter(pk=clock.pk).update(due_at=clock.due_at - ago)
        while paging.sweep().steps:
            pass

    def _register(self, ai: Incident, phish: Incident, users: dict[str, User]) -> None:
        """The notification register: on the AI-model breach GDPR Art. 33 applies (its 72-hour clock
        runs from awareness 30 hours ago, a draft notice waits for counsel), NIS2 is under assessment
        and SEC and HIPAA do not apply, with the reasons; on the phishing wave the contractual notice
        was approved and sent, which stopped its clock."""
        lead, counsel = users["lead"], users["counsel"]
        regimes = {regime.slug: regime for regime in Regime.objects.all()}
        services.member_add(incident=ai, user=counsel, actor=lead, role=MemberRole.RESPONDER)
        decide = register.assessment_decide
        decide(incident=ai, regime=regimes["gdpr-art33"], decision=Applicability.APPLIES, actor=counsel,
               reason="Customer support transcripts in the evaluation set are personal data; exfiltration is "
                      "likely to result in a risk to the data subjects.")  # fmt: skip
        decide(incident=ai, regime=regimes["nis2"], decision=Applicability.UNDER_ASSESSMENT, actor=counsel,
               reason="Checking whether the ML platform is part of an essential service.")  # fmt: skip
        decide(incident=ai, regime=regimes["sec-8k"], decision=Applicability.DOES_NOT_APPLY, actor=counsel,
               reason="We are not an SEC registrant: no securities listed in the United States.")  # fmt: skip
        decide(incident=ai, regime=regimes["hipaa"], decision=Applicability.DOES_NOT_APPLY, actor=counsel,
               reason="No protected health information: the transcripts are retail support conversations.")  # fmt: skip
        register.clock_set(
            incident=ai, regime=regimes["gdpr-art33"], stage="notification", start_event=StartEvent.AWARENESS,
            started_at=ai.detected_at, actor=lead,
            reason="The SOC lead confirmed the downloads were not ours when the artifact-store alert was triaged.",
        )  # fmt: skip
        register.notice_draft(incident=ai, regime=regimes["gdpr-art33"], actor=lead)

        contractual = regimes["contractual"]
        decide(incident=phish, regime=regimes["gdpr-art33"], decision=Applicability.DOES_NOT_APPLY, actor=counsel,
               reason="Only the work e-mail addresses of four employees were exposed; no risk to their rights "
                      "and freedoms (documented under Art. 33(5)).")  # fmt: skip
        decide(incident=phish, regime=contractual, decision=Applicability.APPLIES, actor=lead,
               reason="Our payments provider's contract asks for notice of any phishing using its brand.")  # fmt: skip
        register.clock_set(
            incident=phish, regime=contractual, stage="notification", start_event=StartEvent.AWARENESS,
            started_at=phish.detected_at, actor=lead, reason="A user reported the message: that is when we knew.",
        )  # fmt: skip
        notice = register.notice_draft(incident=phish, regime=contractual, actor=users["responder"])
        notice = register.notice_approve(notice=notice, actor=counsel, version=notice.version)
        register.notice_send(
            notice=notice, actor=lead, sent_at=phish.detected_at + timedelta(hours=20), channel="e-mail",
            recipient="Payments provider security team", authority_reference="PSP-SEC-88213",
        )  # fmt: skip

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
            # personal_data and records_affected come from the affected scope (_vendors below).
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
        paging.incident_acknowledge(incident=msp, actor=lead, channel="web")
        services.incident_transition(incident=msp, to=Status.TRIAGE, actor=lead)

        vpn = services.incident_open(
            title="Unusual volume of failed VPN logins",
            opened_by=responder,
            severity=Severity.MEDIUM,
            category=Category.ACCOUNT_COMPROMISE,
            detected_at=now - timedelta(hours=5),
            summary="Password-spraying pattern from a residential proxy network.",
        )

        self._evidence(ai, phish, users)
        self._indicators(phish, vpn, users)
        self._vendors(ai, phish, msp, users)
        self._timeline(ai, phish, msp, users)
        self._alerts()
        self._register(ai, phish, users)

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

    def _indicators(self, phish: Incident, vpn: Incident, users: dict[str, User]) -> None:
        """Indicators on two incidents: one address shared by both (a correlation link), one of
        ours (an affected asset), one marked TLP:RED (left out of exports unless asked)."""
        responder = users["responder"]
        indicators.indicators_add_many(
            incident=phish,
            actor=responder,
            items=[
                {"type": "domain", "value": "invoices-paypa1[.]com", "tlp": "green", "confidence": 90,
                 "source": "phishing e-mail headers"},
                {"type": "url", "value": "hxxps://invoices-paypa1[.]com/pay?id=8812", "tlp": "amber", "confidence": 90},
                {"type": "ip", "value": "185.220.101.47", "tlp": "amber", "confidence": 70, "source": "Received"},
                {"type": "email", "value": "finance@breachline.example", "source": "the targeted mailbox"},
                {"type": "sha256", "value": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                 "tlp": "red", "confidence": 60, "description": "Loader shared by a partner CERT under TLP:RED."},
            ],
        )  # fmt: skip
        indicators.indicators_add_many(
            incident=vpn,
            actor=responder,
            items=[
                {"type": "ip", "value": "185.220.101.47", "tlp": "green", "source": "VPN gateway log"},
                {"type": "ip", "value": "10.8.0.14", "source": "VPN gateway log"},
            ],
        )

    def _evidence(self, ai: Incident, phish: Incident, users: dict[str, User]) -> None:
        """A few files and a text excerpt with their chains of custody: one flagged as malware,
        one privileged, one shared with the contractor. Demo bytes only (nothing here is malware)."""
        lead, responder, vendor = users["lead"], users["responder"], users["vendor"]
        now = timezone.now()
        audit_log = "\n".join(
            f'{{"ts": "2026-03-03T02:{10 + n // 6:02d}:{(n * 10) % 60:02d}Z", "method": "GET", '
            f'"path": "/models/assistant-v3/shard-{n:03d}.safetensors", "token": "svc-nw-ci", '
            f'"src": "203.0.113.77", "status": 200}}'
            for n in range(212)
        )
        (audit,) = evidence.evidence_files_add(
            incident=ai,
            actor=responder,
            files=[ContentFile(audit_log.encode(), name="artifact-store-audit.jsonl")],
            collected_at=now - timedelta(hours=26),
            source_system="ML artifact store (audit log export)",
            description="All requests made with the svc-nw-ci token in the 48 hours before detection.",
        )
        evidence.evidence_files_add(
            incident=ai,
            actor=vendor,
            files=[
                ContentFile(
                    b"timestamp,host,event\n2026-03-01T14:02:11Z,nw-dev-laptop-07,stealer.exe started\n"
                    b"2026-03-01T14:02:40Z,nw-dev-laptop-07,.env read by stealer.exe\n",
                    name="northwind-edr-timeline.csv",
                )
            ],
            collected_at=now - timedelta(hours=8),
            source_system="Northwind EDR console",
        )
        (sample,) = evidence.evidence_files_add(
            incident=ai,
            actor=responder,
            files=[
                ContentFile(b"MZ\x90\x00" + b"Breachline demo bytes: not malware. " * 64, name="stealer-sample.exe")
            ],
            collected_at=now - timedelta(hours=6),
            source_system="nw-dev-laptop-07",
            description="The info-stealer recovered from the contractor's laptop.",
            malware=True,
        )
        evidence.evidence_files_add(
            incident=ai,
            actor=lead,
            files=[
                ContentFile(b"%PDF-1.4\n% demo: outside counsel's GDPR assessment\n", name="gdpr-exposure-memo.pdf")
            ],
            description="Outside counsel's assessment of the notification duty.",
            privileged=True,
        )
        evidence.evidence_transfer(
            evidence=sample, actor=responder, recipient="Lakeside DFIR (case LD-4471)", reason="Reverse engineering"
        )
        evidence.evidence_access(evidence=audit, actor=lead)

        evidence.evidence_text_add(
            incident=phish,
            actor=responder,
            name="Headers of the invoice lure",
            text=(
                "Return-Path: <billing@paymentz-provider.example>\n"
                "Received: from mail.paymentz-provider.example (198.51.100.23)\n"
                "\tby mx1.example.com with ESMTPS; Tue, 3 Mar 2026 08:14:02 +0000\n"
                "Authentication-Results: mx1.example.com; spf=pass; dkim=none; dmarc=fail\n"
                'From: "Payments Provider" <billing@paymentz-provider.example>\n'
                "Subject: Overdue invoice INV-20931\n"
            ),
            collected_at=now - timedelta(days=3),
            source_system="Mail gateway",
        )
        evidence.evidence_files_add(
            incident=phish,
            actor=responder,
            files=[
                ContentFile(
                    b"<!DOCTYPE html><html><body><form action='https://paymentz-provider.example/login'>"
                    b"</form></body></html>",
                    name="invoice-lure.html",
                )
            ],
            collected_at=now - timedelta(days=3),
            source_system="Mail gateway quarantine",
        )

    def _vendors(self, ai: Incident, phish: Incident, msp: Incident, users: dict[str, User]) -> None:
        """The registry, and who was what in which case. Victor works for Northwind: on the
        contractor breach he sees Northwind's involvement, never the forensics firm's."""
        admin, lead = users["admin"], users["lead"]
        registry = {}
        for name, domains, tier, service, data in [
            ("Northwind Data Labs", ["northwind.example", "nw-labs.example"], "critical",
             "Labelling contractor for the ML platform (CI runner with a service token).",
             "Model weights, evaluation sets with customer support transcripts"),
            ("Contoso Managed IT", ["contoso-msp.example"], "critical",
             "Managed service provider: RMM agent on every workstation.", "Endpoint telemetry, admin credentials"),
            ("Fabrikam Payments", ["fabrikam-pay.example"], "high", "Payments provider.", "Invoices, bank details"),
            ("Tailspin Forensics", ["tailspin-ir.example"], "medium", "Incident-response retainer.", "Evidence copies"),
            ("Litware Mail Security", ["litware.example"], "low", "Mail gateway filtering.", "E-mail metadata"),
        ]:  # fmt: skip
            registry[name] = vendors.vendor_create(
                actor=admin, name=name, domains=domains, tier=tier, service=service, data_processed=data,
                security_contact=f"security@{domains[0]}", contract_reference=f"DPA-{len(registry) + 1:03d}",
            )  # fmt: skip
        users["vendor"].vendor = registry["Northwind Data Labs"]
        users["vendor"].save(update_fields=["vendor"])
        # What the registry knows Northwind holds, copied into the breach's inventory, then the
        # containment so far: the checklist reads "2 of 3 vendor access items revoked; API token
        # svc-nw-ci still active."
        northwind = registry["Northwind Data Labs"]
        for kind, system, identifier, privilege in [
            (AccessKind.API_TOKEN, "GitLab CI", "svc-nw-ci", "maintainer on ml-platform"),
            (AccessKind.SSH_KEY, "ML training cluster", "nw-runner@ci-01", "sudo on GPU nodes"),
            (AccessKind.OAUTH_GRANT, "Google Workspace", "Northwind Labeller app", "drive.readonly"),
        ]:  # fmt: skip
            vendors.known_access_add(
                vendor=northwind, actor=admin, kind=kind, system=system, identifier=identifier, privilege=privilege
            )
        entry = vendors.involvement_add(
            incident=ai, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT,
            vendor_reference="NW-SEC-2291",
        )  # fmt: skip
        _, ssh_key, oauth = vendors.access_fill_from_registry(involvement=entry, actor=lead)
        vendors.access_step(access=ssh_key, actor=lead, to=AccessState.REVOKED, note="Key removed from authorized_keys")
        vendors.access_step(access=ssh_key, actor=lead, to=AccessState.ROTATED, note="Runner re-keyed; new key ours")
        vendors.access_step(access=oauth, actor=lead, to=AccessState.REVOKED, note="Grant removed in the admin console")
        vendors.access_step(
            access=oauth, actor=lead, to=AccessState.VERIFIED_UNUSED, note="Workspace audit log: no token use",
            verified_unused_since=timezone.now() - timedelta(days=2),
        )  # fmt: skip
        # Questions to Northwind: one answered by Victor in the app, one overdue. The service
        # refuses a due time in the past, so the overdue one is asked, then back-dated.
        answered = vendors.question_ask(
            involvement=entry, actor=lead, question="What is the root cause on your side?",
            due_at=timezone.now() + timedelta(days=2),
        )  # fmt: skip
        vendors.question_answer(
            question=answered, actor=users["vendor"],
            answer="An infostealer on a developer laptop read the CI token from a .env file; the laptop is reimaged.",
        )  # fmt: skip
        overdue = vendors.question_ask(
            involvement=entry, actor=lead, question="Are other customers affected by the same token leak?",
            due_at=timezone.now() + timedelta(minutes=5),
        )  # fmt: skip
        VendorQuestion.objects.filter(pk=overdue.pk).update(
            asked_at=timezone.now() - timedelta(hours=28), due_at=timezone.now() - timedelta(hours=4)
        )
        # The affected scope: the incident's personal-data flag and record count derive from it.
        affected_scope.scope_add(
            incident=ai, actor=lead, kind=ScopeKind.DATA_SET, name="Assistant evaluation data set",
            owner="ML platform", data_categories=["personal", "model_weights_ip"], records=12_400,
            jurisdictions=["DE", "FR", "US"], internal=False,
        )  # fmt: skip
        affected_scope.scope_add(
            incident=ai, actor=lead, kind=ScopeKind.SYSTEM, name="ML artifact store",
            owner="ML platform", data_categories=["model_weights_ip", "credentials"],
        )  # fmt: skip
        vendors.involvement_add(
            incident=ai, vendor=registry["Tailspin Forensics"], actor=lead, role=VendorRole.SUPPORTING
        )
        vendors.involvement_add(
            incident=msp, vendor=registry["Contoso Managed IT"], actor=lead, role=VendorRole.ENTRY_POINT
        )
        vendors.involvement_add(
            incident=phish, vendor=registry["Fabrikam Payments"], actor=lead, role=VendorRole.AFFECTED
        )

    def _timeline(self, ai: Incident, phish: Incident, msp: Incident, users: dict[str, User]) -> None:
        """Attack timelines: the contractor breach told from the infostealer on Northwind's laptop
        to the model download (mixed precisions, ATT&CK techniques, links to evidence and the
        vendor, some shared with Victor); the phishing wave from delivery to recovery, so its
        milestones (dwell time, time to contain, time to recover) have real numbers."""
        lead, responder, vendor = users["lead"], users["responder"], users["vendor"]
        now = timezone.now().replace(second=0, microsecond=0)
        northwind = Vendor.objects.get(name="Northwind Data Labs")
        files = dict(Evidence.objects.filter(incident=ai).values_list("name", "pk"))
        for actor, ago, precision, kind, title, fields in [
            (vendor, timedelta(days=10), "day", TimelineKind.ATTACKER,
             "Northwind developer opens a malicious attachment (date from Northwind's report)",
             {"technique": "T1566.001", "vendor": northwind.pk, "source": "Northwind incident report NW-SEC-2291"}),
            (vendor, timedelta(days=9, hours=3), "exact", TimelineKind.ATTACKER,
             "Infostealer stealer.exe starts on nw-dev-laptop-07",
             {"technique": "T1204.002", "vendor": northwind.pk, "key_event": True, "source": "Northwind EDR console",
              "evidence": [files["northwind-edr-timeline.csv"]]}),
            (vendor, timedelta(days=9, hours=2, minutes=59), "exact", TimelineKind.ATTACKER,
             "The CI token svc-nw-ci is read from a .env file by stealer.exe",
             {"technique": "T1552.001", "vendor": northwind.pk, "source": "Northwind EDR console",
              "evidence": [files["northwind-edr-timeline.csv"]]}),
            (responder, timedelta(hours=33), "minute", TimelineKind.ATTACKER,
             "First use of svc-nw-ci from 203.0.113.77, outside Northwind's ranges",
             {"technique": "T1199", "vendor": northwind.pk, "key_event": True, "internal": True,
              "source": "ML artifact store audit log", "evidence": [files["artifact-store-audit.jsonl"]],
              "description": "The contractor's **trusted** CI token, used from a VPS in another country."}),
            (responder, timedelta(hours=32, minutes=20), "approximate", TimelineKind.ATTACKER,
             "212 model shards of assistant-v3 downloaded",
             {"technique": "T1530", "key_event": True, "internal": True, "source": "ML artifact store audit log",
              "evidence": [files["artifact-store-audit.jsonl"]]}),
            (lead, timedelta(hours=30), "minute", TimelineKind.DETECTION,
             "Egress-volume alert on the ML artifact store",
             {"key_event": True, "internal": True, "source": "SIEM rule ML-EGRESS-01"}),
            (lead, timedelta(hours=29), "hour", TimelineKind.COMMUNICATION,
             "Northwind's security team told; they open NW-SEC-2291",
             {"vendor": northwind.pk, "internal": False, "source": "Phone call, then e-mail"}),
            (lead, timedelta(hours=20), "minute", TimelineKind.VENDOR,
             "Northwind reimages nw-dev-laptop-07 and rotates its developers' tokens",
             {"vendor": northwind.pk, "internal": False, "source": "Northwind's answer in Breachline"}),
            (lead, timedelta(hours=6), "minute", TimelineKind.REGULATORY,
             "GDPR Art. 33 assessment opened: the evaluation set holds support transcripts",
             {"key_event": True, "internal": True, "source": "Counsel"}),
        ]:  # fmt: skip
            timeline.event_add(
                incident=ai, actor=actor, occurred_at=now - ago, precision=precision, kind=kind, title=title,
                **fields,
            )  # fmt: skip
        lure = Indicator.objects.filter(incident=phish, type="domain").values_list("pk", flat=True)[:1]
        detected = phish.detected_at.replace(second=0, microsecond=0)
        for ago, kind, title, fields in [
            (timedelta(days=5, hours=2), TimelineKind.ATTACKER, "Look-alike domain invoices-paypa1.com registered",
             {"technique": "T1583.001", "indicators": list(lure), "source": "WHOIS"}),
            (timedelta(days=3, hours=1), TimelineKind.ATTACKER, "37 invoice-themed messages delivered to finance",
             {"technique": "T1566.002", "key_event": True, "indicators": list(lure), "source": "Mail gateway"}),
            (timedelta(days=3), TimelineKind.DETECTION, "A user reports the message with the Report button",
             {"key_event": True, "source": "Phishing mailbox"}),
            (timedelta(days=2, hours=21), TimelineKind.CONTAINMENT, "Sender domain blocked at the mail gateway",
             {"key_event": True, "source": "Mail gateway"}),
            (timedelta(days=2, hours=18), TimelineKind.ERADICATION, "Messages purged from 37 mailboxes",
             {"source": "Exchange Online"}),
            (timedelta(days=1, hours=20), TimelineKind.RECOVERY, "Passwords of the 4 users who clicked reset",
             {"key_event": True, "source": "Identity provider"}),
        ]:  # fmt: skip
            timeline.event_add(
                incident=phish, actor=responder, occurred_at=detected + timedelta(days=3) - ago, precision="minute",
                kind=kind, title=title, **fields,
            )  # fmt: skip
        timeline.event_add(
            incident=msp, actor=lead, occurred_at=msp.detected_at, precision="minute", kind=TimelineKind.DETECTION,
            title="EDR blocks an unsigned PowerShell script pushed by the RMM agent", technique="T1072",
            key_event=True, source="EDR",
        )  # fmt: skip

    def _alerts(self) -> None:
        """A SIEM's alerts: a critical one that opened an incident by itself and a later one that
        joined it (same rule, host and attacker address), and a triage queue of new ones, one
        sent four times. The key's secret is not kept: make one with create_api_key to post."""
        siem, _ = api_key_create(name="splunk-prod", scopes=["alerts:write"])
        now = timezone.now().replace(microsecond=0)

        def post(*alerts: NormalizedAlert) -> None:
            intake.alerts_ingest(
                received=[intake.Received(alert=a, raw={"sid": a.source_ref, "search_name": a.rule}) for a in alerts],
                source="splunk-prod", format="splunk", sender=siem.user,
            )  # fmt: skip

        sample = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        canary = {"rule": "Ransomware canary modified", "host": "fs01", "user": "svc-backup",
                  "observables": [("ip", "45.137.21.9"), ("sha256", sample)]}  # fmt: skip
        title = "Ransomware canary file modified on FS01"
        post(
            NormalizedAlert(
                source_ref="scheduler__nobody__search__RMD5a1_at_1_101", title=title,
                severity="critical", observed_at=now - timedelta(hours=2), **canary,
            )
        )  # fmt: skip
        post(
            NormalizedAlert(
                source_ref="scheduler__nobody__search__RMD5a1_at_1_102", title=title,
                severity="medium", observed_at=now - timedelta(hours=1, minutes=40), **canary,
            )
        )  # fmt: skip
        queue = [
            ("vpn-1", "Multiple failed VPN logins for j.doe", "low", "VPN brute force", "vpn-gw-01", "j.doe",
             [("ip", "185.220.101.47")]),
            ("ps-1", "PowerShell download cradle on wks-0412", "medium", "Suspicious PowerShell", "wks-0412", "m.ross",
             [("url", "hxxp://cdn-update[.]example/a.ps1"), ("domain", "cdn-update.example")]),
            ("mail-1", "Mail from look-alike domain invoices-paypa1.com", "low", "Look-alike sender", "", "",
             [("domain", "invoices-paypa1.com"), ("email", "finance@breachline.example")]),
        ]  # fmt: skip
        for ref, title, severity, rule, host, user, observables in queue:
            post(
                NormalizedAlert(
                    source_ref=ref, title=title, severity=severity, rule=rule, host=host, user=user,
                    observed_at=now - timedelta(minutes=30), observables=observables,
                )
            )  # fmt: skip
        for _ in range(3):  # the VPN alert keeps firing: one alert, four occurrences
            post(NormalizedAlert(source_ref="vpn-1", title="Multiple failed VPN logins for j.doe", severity="low",
                                 observed_at=now - timedelta(minutes=30)))  # fmt: skip

    def _history(self, users: dict[str, User]) -> None:
        """Forty incidents over the last 120 days, for the dashboard's trends and KPIs: most closed,
        six open; milestones at realistic offsets with some missing (no first attacker activity
        known, never formally acknowledged or contained); timeline events carrying ATT&CK
        techniques; vendors of every tier, some of whose access is still active; a few SLA
        breaches; alerts over the period, some promoted; and a GDPR clock falling due within 72 h.

        Made through the services like the rest, then moved back in time with plain updates (the
        services stamp "now"): a demo's shortcut, never the app's way. Deterministic: a fixed
        random seed, and times counted back from the minute the seed runs."""
        rng = random.Random(HISTORY_SEED)  # noqa: S311 (demo data, not a secret)  # nosec B311
        lead, responder, admin = users["lead"], users["responder"], users["admin"]
        now = timezone.now().replace(second=0, microsecond=0)
        registry = {vendor.name: vendor for vendor in Vendor.objects.all()}
        for name, tier, service in HISTORY_VENDORS:
            registry[name] = vendors.vendor_create(actor=admin, name=name, tier=tier, service=service)
        involved = sorted(registry.values(), key=lambda vendor: vendor.name)
        targets = {t.severity: t for t in SlaTarget.objects.all()}
        opened: list[tuple[Incident, dict[str, datetime | None]]] = []
        for n in range(40):
            title, category, severity, techniques = HISTORY_KINDS[n % len(HISTORY_KINDS)]
            still_open = n >= 40 - HISTORY_OPEN
            # The open ones are the recent ones (1 to 12 days); closed ones 14 to 120 days old.
            age = timedelta(days=rng.uniform(1, 12) if still_open else rng.uniform(14, HISTORY_DAYS))
            times = self._history_times(rng, now - age, still_open, targets[severity])
            incident = services.incident_open(
                title=title.format(team=HISTORY_TEAMS[n % len(HISTORY_TEAMS)]), opened_by=responder, lead=lead,
                severity=severity, category=category, detected_at=times["detected"],
                summary="History for the dashboard (demo data).", tags=["demo-history"],
            )  # fmt: skip
            if n % 3 == 0:
                self._history_vendors(rng, incident, involved[(n // 3) % len(involved)], still_open, lead)
            self._history_timeline(incident, times, techniques, responder)
            self._history_status(incident, times, still_open, lead)
            self._history_backdate(incident, times, targets[severity])
            opened.append((incident, times))
        self._history_alerts(rng, now, opened, lead)
        self._history_clock(opened, users)

    @staticmethod
    def _history_times(
        rng: random.Random, detected: datetime, still_open: bool, target: SlaTarget
    ) -> dict[str, datetime | None]:
        """Milestones of one incident, each at a realistic offset from the one before; some
        missing. Acknowledged and contained mostly within the severity's SLA targets, about one
        in ten late. An open incident stops at containment at most."""
        minutes = lambda low, high: timedelta(minutes=round(rng.uniform(low, high)))  # noqa: E731

        def within(limit: timedelta) -> timedelta:
            share = rng.uniform(1.2, 3.0) if rng.random() < 0.1 else rng.uniform(0.1, 0.9)
            return timedelta(minutes=max(1, round(limit.total_seconds() / 60 * share)))

        detected = detected.replace(second=0, microsecond=0)
        times: dict[str, datetime | None] = {"detected": detected}
        times["attacker"] = detected - minutes(60, 14 * 24 * 60) if rng.random() < 0.7 else None
        times["reported"] = detected + minutes(5, 6 * 60)
        times["acknowledged"] = times["reported"] + within(target.acknowledge_within) if rng.random() < 0.9 else None
        start = times["acknowledged"] or times["reported"]
        times["contained"] = times["reported"] + within(target.contain_within) if rng.random() < 0.85 else None
        if times["contained"] is not None and times["contained"] < start:
            times["contained"] = start + timedelta(minutes=10)
        times["resolved"] = times["closed"] = None
        if still_open:
            if rng.random() < 0.5:
                times["contained"] = None
            return times
        times["resolved"] = (times["contained"] or start) + minutes(6 * 60, 8 * 24 * 60)
        times["closed"] = times["resolved"] + minutes(60, 3 * 24 * 60)
        return times

    @staticmethod
    def _history_vendors(rng: random.Random, incident: Incident, vendor: Vendor, still_open: bool, lead: User) -> None:
        """One vendor on the incident with two access items: revoked on closed cases, one left
        active on open ones (the dashboard's "access not yet revoked"). Never the entry point of
        an open case, whose active access would hold its containment back."""
        role = VendorRole.AFFECTED if still_open else rng.choice([VendorRole.ENTRY_POINT, VendorRole.SUPPORTING])
        involvement = vendors.involvement_add(incident=incident, vendor=vendor, actor=lead, role=role)
        for kind, system in [(AccessKind.VPN_ACCOUNT, "Partner VPN"), (AccessKind.API_TOKEN, "Integration API")]:
            access = vendors.access_add(
                involvement=involvement, actor=lead, kind=kind, system=system,
                identifier=f"{vendor.name.split()[0].lower()}-{incident.pk}-{kind}",
            )  # fmt: skip
            if not still_open or kind == AccessKind.API_TOKEN:
                vendors.access_step(access=access, actor=lead, to=AccessState.REVOKED, note="Removed (demo history)")

    @staticmethod
    def _history_timeline(
        incident: Incident, times: dict[str, datetime | None], techniques: list[str], actor: User
    ) -> None:
        """What happened, as the timeline tells it: the attacker's steps (with techniques), the
        detection, containment and recovery. A milestone left out stays out of the timeline too."""
        events: list[tuple[datetime | None, str, str, str]] = []
        if times["attacker"] is not None:
            first, last = times["attacker"], times["detected"] - timedelta(minutes=1)
            for i, technique in enumerate(techniques):
                at = first + (last - first) * i / len(techniques)
                events.append((at, TimelineKind.ATTACKER, f"Attacker activity ({technique})", technique))
        events.append((times["detected"], TimelineKind.DETECTION, "Detected", ""))
        events.append((times["contained"], TimelineKind.CONTAINMENT, "Contained", ""))
        events.append((times["resolved"], TimelineKind.RECOVERY, "Systems restored", ""))
        for at, kind, title, technique in events:
            if at is not None:
                timeline.event_add(
                    incident=incident, actor=actor, occurred_at=at, precision="minute", kind=kind, title=title,
                    technique=technique, source="Demo history",
                )  # fmt: skip

    @staticmethod
    def _history_status(incident: Incident, times: dict[str, datetime | None], still_open: bool, lead: User) -> None:
        """Closed cases are closed (true positives, with a summary); open ones moved on as far as
        their milestones go. Open escalations are acknowledged: the demo's one waiting page is the
        ransomware incident's."""
        if not still_open:
            services.incident_close(
                incident=incident, actor=lead, resolution=Resolution.TRUE_POSITIVE,
                closing_summary="Handled; see the timeline (demo history).",
            )  # fmt: skip
            return
        services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
        if times["contained"] is not None:
            services.incident_transition(incident=incident, to=Status.CONTAINED, actor=lead)
        if Escalation.objects.filter(incident=incident, stopped_at__isnull=True).exists():
            paging.incident_acknowledge(incident=incident, actor=lead, channel="web")

    @staticmethod
    def _history_backdate(incident: Incident, times: dict[str, datetime | None], target: SlaTarget) -> None:
        """Move the incident, its escalation and its SLA clocks to when it happened. A clock is met
        when its milestone came in time, breached at its due time otherwise (or when the case
        closed without reaching it)."""
        reported, closed = times["reported"], times["closed"]
        Incident.objects.filter(pk=incident.pk).update(
            created_at=reported, reported_at=reported, acknowledged_at=times["acknowledged"],
            contained_at=times["contained"], resolved_at=times["resolved"], closed_at=closed,
            updated_at=closed or times["contained"] or times["acknowledged"] or reported,
        )  # fmt: skip
        stopped = times["acknowledged"] or closed or reported
        Escalation.objects.filter(incident=incident).update(started_at=reported, stopped_at=stopped, next_at=None)
        for kind, within, reached in [
            (SlaKind.ACKNOWLEDGE, target.acknowledge_within, times["acknowledged"]),
            (SlaKind.CONTAIN, target.contain_within, times["contained"]),
        ]:
            due = reported + within
            met = reached if reached is not None and reached <= due else None
            breached = (
                due if met is None and (reached is not None or closed is not None or due < timezone.now()) else None
            )
            SlaClock.objects.filter(incident=incident, kind=kind).update(due_at=due, met_at=met, breached_at=breached)

    @staticmethod
    def _history_alerts(
        rng: random.Random, now: datetime, opened: list[tuple[Incident, dict[str, datetime | None]]], lead: User
    ) -> None:
        """Alerts over the whole period from a second SIEM: one promoted for each of a third of the
        history's incidents (received just before their detection), the rest triaged as ignored,
        so the triage queue stays the recent cases' own."""
        siem, _ = api_key_create(name="sentinel-prod", scopes=["alerts:write"])
        received = []
        for n in range(160):
            observed = now - timedelta(minutes=round(rng.uniform(60, HISTORY_DAYS * 24 * 60)))
            severity = rng.choice(["info", "low", "low", "medium"])
            alert = NormalizedAlert(
                source_ref=f"hist-{n:03d}", title=f"Detection rule {n % 12 + 1} matched on wks-{n:03d}",
                severity=severity, rule=f"Rule {n % 12 + 1}", host=f"wks-{n:03d}", observed_at=observed,
            )  # fmt: skip
            received.append(intake.Received(alert=alert, raw={"id": alert.source_ref}))
        intake.alerts_ingest(received=received, source="sentinel-prod", format="sentinel", sender=siem.user)
        alerts = list(Alert.objects.filter(source="sentinel-prod").order_by("source_ref"))
        promoted = {n: incident for n, (incident, _) in enumerate(opened) if n % 3 == 0}
        for n, alert in enumerate(alerts):
            alert.received_at = alert.last_seen_at = alert.observed_at + timedelta(minutes=2)
            alert.triaged_by = lead
            if n in promoted:
                incident, times = promoted[n], opened[n][1]
                alert.observed_at = times["detected"] - timedelta(minutes=10)
                alert.received_at = alert.last_seen_at = times["detected"] - timedelta(minutes=8)
                alert.status, alert.incident, alert.triaged_at = AlertStatus.PROMOTED, incident, times["detected"]
            else:
                alert.status, alert.ignore_reason = AlertStatus.IGNORED, "Benign: known scanner (demo history)"
                alert.triaged_at = alert.received_at + timedelta(minutes=30)
        fields = ["observed_at", "received_at", "last_seen_at", "status", "incident", "triaged_by", "triaged_at",
                  "ignore_reason"]  # fmt: skip
        Alert.objects.bulk_update(alerts, fields, batch_size=500)

    @staticmethod
    def _history_clock(opened: list[tuple[Incident, dict[str, datetime | None]]], users: dict[str, User]) -> None:
        """On the newest open case with personal data at stake, GDPR Art. 33 applies and its 72-hour
        clock started 50 hours ago: due in 22 hours."""
        incident = next(
            i for i, _ in reversed(opened) if i.category == Category.DATA_EXFILTRATION and i.status != "closed"
        )
        regime = Regime.objects.get(slug="gdpr-art33")
        register.assessment_decide(
            incident=incident, regime=regime, decision=Applicability.APPLIES, actor=users["lead"],
            reason="Uploaded files held employee records.",
        )  # fmt: skip
        register.clock_set(
            incident=incident, regime=regime, stage="notification", start_event=StartEvent.AWARENESS,
            started_at=timezone.now().replace(second=0, microsecond=0) - timedelta(hours=50), actor=users["lead"],
            reason="Confirmed by the DLP review (demo history).",
        )  # fmt: skip
