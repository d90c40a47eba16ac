"""The world the authorization matrix (tests/test_authorization_matrix.py) walks.

Two incidents, one unrestricted (``U``) and one restricted (``R``), each holding one of every kind
of case content, so that every ``<id>`` in every route has something real to point at. Every
persona exists twice: ``<persona>_in``, a member of both incidents (the ``lead`` persona leads
both), and ``<persona>_out``, a member of neither. Integrations act through API keys of an
integration user, also in and out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from accounts import invitations
from accounts.models import Role, User
from accounts.services import api_key_create
from incidents import services
from incidents.evidence import services as evidence_services
from incidents.indicators import services as indicator_services
from incidents.models import Applicability, Incident, MemberRole, Regime, Severity, VendorRole
from incidents.regulatory import services as regulatory_services
from incidents.vendors import scope as scope_services
from incidents.vendors import services as vendor_services
from intake import services as intake_services
from intake.normalizers import NormalizedAlert
from intake.tokens import ingest_token_create
from intake.triage import alerts_link
from notifications.models import Channel, Notification, Transport
from notifications.services import acknowledge_url
from timeline import services as timeline_services
from timeline.models import ImportFormat, ImportStatus, TimelineImport

from .factories import UserFactory, make_incident

# Personas (the matrix's rows). "counsel" is a responder holding the counsel permission.
PERSONAS = ("admin", "lead", "responder", "counsel", "executive", "auditor", "vendor")
ROLE_OF = {
    "admin": Role.ADMIN,
    "lead": Role.LEAD,
    "responder": Role.RESPONDER,
    "counsel": Role.RESPONDER,
    "executive": Role.EXECUTIVE,
    "auditor": Role.AUDITOR,
    "vendor": Role.VENDOR,
    "integration": Role.INTEGRATION,
}
# How each persona's "in" user sits on both incidents (the lead persona is the incident's lead).
MEMBER_ROLE = {
    "admin": MemberRole.RESPONDER,
    "responder": MemberRole.RESPONDER,
    "counsel": MemberRole.RESPONDER,
    "executive": MemberRole.OBSERVER,
    "auditor": MemberRole.OBSERVER,
    "vendor": MemberRole.RESPONDER,  # a contributing collaborator
}
# API keys (the API's extra rows): the scopes each holds. Their user is an integration user, which
# can never be a member of an incident (so "in" and "out" keys see the same).
KEYS = {
    "key:read": ("incidents:read",),
    "key:write": ("incidents:read", "incidents:write"),
    "key:alerts": ("alerts:write",),
}


@dataclass
class Case:
    """One incident and the ids its routes take."""

    incident: Incident
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    users: dict[str, User]
    keys: dict[str, str]  # "key:read_in" -> raw key
    cases: dict[str, Case]  # "U", "R"
    globals: dict[str, str]


def _user(name: str, persona: str) -> User:
    user = UserFactory(username=name, role=ROLE_OF[persona], counsel=persona == "counsel")
    if persona == "admin":
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def build() -> World:
    users = {f"{p}_{side}": _user(f"{p}_{side}", p) for p in (*PERSONAS, "integration") for side in ("in", "out")}
    lead = users["lead_in"]
    northwind = vendor_services.vendor_create(actor=users["admin_in"], name="Northwind MSP", tier="critical")
    users["vendor_in"].vendor = northwind
    users["vendor_in"].save(update_fields=["vendor"])
    users["vendor_out"].vendor = northwind
    users["vendor_out"].save(update_fields=["vendor"])
    known = vendor_services.known_access_add(
        vendor=northwind, actor=users["admin_in"], kind="vpn_account", system="vpn.corp", identifier="nw-ops"
    )
    channel = Channel.objects.create(name="SOC webhook", kind="webhook", target="https://hooks.example/soc")
    alert_sender = users["integration_in"]
    gdpr = Regime.objects.get(slug="gdpr-art33")

    cases: dict[str, Case] = {}
    for label, restricted in (("U", False), ("R", True)):
        incident = make_incident(
            opened_by=lead,
            lead=lead,
            title=f"Matrix incident {label}",
            severity=Severity.HIGH,
            restricted=restricted,
        )
        for persona, role in MEMBER_ROLE.items():
            services.member_add(incident=incident, user=users[f"{persona}_in"], actor=lead, role=role)
        task = services.task_add(incident=incident, actor=lead, title=f"Rotate tokens {label}")
        services.finding_add(incident=incident, author=lead, body=f"Token used {label}")
        evidence = evidence_services.evidence_text_add(
            incident=incident, actor=lead, name=f"auth-{label}.log", text="Accepted publickey for svc", internal=False
        )
        indicator = indicator_services.indicator_add(
            incident=incident, actor=lead, type="ip", value=f"203.0.113.{10 if restricted else 9}"
        )
        involvement = vendor_services.involvement_add(
            incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT
        )
        access = vendor_services.access_add(
            involvement=involvement, actor=lead, kind="vpn_account", system="vpn.corp", identifier=f"nw-{label}"
        )
        question = vendor_services.question_ask(
            involvement=involvement, actor=lead, question="Which accounts?", due_at=timezone.now() + timedelta(days=1)
        )
        scope = scope_services.scope_add(incident=incident, actor=lead, kind="system", name=f"erp-{label}")
        event = timeline_services.event_add(
            incident=incident,
            actor=lead,
            kind="attacker",
            title=f"VPN login {label}",
            occurred_at=timezone.now() - timedelta(hours=2),
        )
        timeline_import = TimelineImport.objects.create(
            incident=incident,
            created_by=lead,
            filename="events.csv",
            format=ImportFormat.CSV,
            status=ImportStatus.READY,
        )
        regulatory_services.assessment_decide(
            incident=incident, regime=gdpr, decision=Applicability.APPLIES, reason="Personal data", actor=lead
        )
        notice = regulatory_services.notice_draft(incident=incident, regime=gdpr, stage="notification", actor=lead)
        invitation, invitation_token = invitations.invitation_create(
            incident=incident,
            email=f"guest-{label.lower()}@northwind.example",
            role=MemberRole.RESPONDER,
            access_expires_at=timezone.now() + timedelta(days=7),
            actor=lead,
            vendor=northwind,
        )
        (alert,) = (
            result.alert
            for result in intake_services.alerts_ingest(
                received=[
                    intake_services.Received(
                        alert=NormalizedAlert(
                            source_ref=f"det-{label}",
                            title=f"Beacon {label}",
                            severity="low",
                            observed_at=timezone.now() - timedelta(hours=1),
                        ),
                        raw={"id": label},
                    )
                ],
                source="siem",
                format="generic",
                sender=alert_sender,
            )
        )
        alerts_link(alerts=[alert], incident=incident, actor=lead)
        paged = Notification.objects.create(
            incident=incident,
            reason="escalation",
            dedupe_key=f"matrix-{label}",
            recipient=f"user:{lead.pk}:email",
            user=lead,
            transport=Transport.EMAIL,
            subject="Paged",
            body="Paged",
        )
        ack_token = acknowledge_url(paged).rstrip("/").rsplit("/", 1)[-1]
        cases[label] = Case(
            incident=incident,
            ids={
                "reference": incident.reference,
                "task": str(task.pk),
                "evidence": str(evidence.pk),
                "indicator": str(indicator.pk),
                "involvement": str(involvement.pk),
                "access": str(access.pk),
                "question": str(question.pk),
                "scope": str(scope.pk),
                "event": str(event.pk),
                "import": str(timeline_import.pk),
                "notice": str(notice.pk),
                "invitation": str(invitation.pk),
                "invitation_token": invitation_token,
                "alert": str(alert.pk),
                "ack_token": ack_token,
                "member": str(users["responder_in"].pk),
            },
        )
    _, ingest_raw = ingest_token_create(name="wazuh", source="wazuh", format="generic", user=users["integration_in"])
    keys = {}
    for key, scopes in KEYS.items():
        for side in ("in", "out"):
            _, raw = api_key_create(name=f"{key}-{side}", scopes=list(scopes), user=users[f"integration_{side}"])
            keys[f"{key}_{side}"] = raw
    return World(
        users=users,
        keys=keys,
        cases=cases,
        globals={
            "vendor": str(northwind.pk),
            "known_access": str(known.pk),
            "channel": str(channel.pk),
            "ingest_token": ingest_raw,
        },
    )


def upload(name: str = "events.csv", body: bytes = b"a,b\n1,2\n") -> ContentFile:
    return ContentFile(io.BytesIO(body).getvalue(), name=name)
