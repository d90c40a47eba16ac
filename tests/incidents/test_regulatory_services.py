"""The notification register's services (``incidents.regulatory.services``): decisions and their
history, deadline clocks and their due times for every built-in regime, reminders and the missed
alert through the escalation sweep, and a notice's life (draft → revise → approve → send).

Who may do each of these is proven cell by cell in tests/incidents/test_regulatory_permissions.py.
Due times are written out here from the calendar, never read back from ``deadlines``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role
from config.errors import ConflictError
from incidents import services as case_services
from incidents.models import (
    Activity,
    DeadlineClock,
    MemberRole,
    Notice,
    NoticeVersion,
    Regime,
    RegulatoryAssessment,
    StartEvent,
)
from incidents.regulatory import services
from notifications.models import Notification
from notifications.services import sweep
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

H = 3600


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def regime(slug: str) -> Regime:
    return Regime.objects.get(slug=slug)


def applies(incident, actor, slug: str) -> Regime:
    found = regime(slug)
    services.assessment_decide(
        incident=incident, regime=found, decision="applies", reason="Personal data.", actor=actor
    )
    return found


def start(incident, actor, slug: str, stage: str, started_at: datetime, **kwargs) -> DeadlineClock:
    kwargs.setdefault("start_event", StartEvent.AWARENESS)
    return services.clock_set(
        incident=incident,
        regime=regime(slug),
        stage=stage,
        started_at=started_at,
        reason="The SOC confirmed the exfiltration.",
        actor=actor,
        **kwargs,
    )


def entries(incident, *verbs: str) -> list[tuple[str, str, dict]]:
    rows = Activity.objects.filter(incident=incident, verb__in=verbs).order_by("id")
    return list(rows.values_list("verb", "actor__username", "data"))


# --- Decisions ----------------------------------------------------------------------------------
def test_a_decision_is_recorded_with_its_history(lead, admin, incident):
    gdpr = regime("gdpr-art33")
    assert not RegulatoryAssessment.objects.exists()

    services.assessment_decide(incident=incident, regime=gdpr, decision="under_assessment", reason="", actor=lead)
    services.assessment_decide(
        incident=incident, regime=gdpr, decision="applies", reason="Customer e-mail addresses leaked.", actor=admin
    )

    row = RegulatoryAssessment.objects.get()
    assert (row.decision, row.reason, row.decided_by.username) == (
        "applies",
        "Customer e-mail addresses leaked.",
        "ada",
    )
    history = entries(incident, "regime_decided")
    assert history == [
        (
            "regime_decided",
            "lena",
            {
                "regime": "GDPR Art. 33 — supervisory authority",
                "decision": "under_assessment",
                "decision_label": "under assessment",
                "old": None,
                "reason": "",
            },
        ),
        (
            "regime_decided",
            "ada",
            {
                "regime": "GDPR Art. 33 — supervisory authority",
                "decision": "applies",
                "decision_label": "applies",
                "old": "under_assessment",
                "reason": "Customer e-mail addresses leaked.",
            },
        ),
    ]
    assert set(Activity.objects.filter(verb="regime_decided").values_list("internal", flat=True)) == {True}


def test_the_same_decision_again_writes_nothing(lead, incident):
    gdpr = regime("gdpr-art33")
    services.assessment_decide(incident=incident, regime=gdpr, decision="applies", reason="PII.", actor=lead)
    services.assessment_decide(incident=incident, regime=gdpr, decision="applies", reason="  PII.  ", actor=lead)
    assert len(entries(incident, "regime_decided")) == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_does_not_apply_is_refused_without_a_reason(lead, incident, reason):
    with pytest.raises(ValidationError) as refused:
        services.assessment_decide(
            incident=incident, regime=regime("nis2"), decision="does_not_apply", reason=reason, actor=lead
        )
    assert refused.value.message_dict == {
        "reason": ["Say why it does not apply: the reasoning is part of the register."]
    }
    assert not RegulatoryAssessment.objects.exists() and entries(incident, "regime_decided") == []


def test_the_database_refuses_does_not_apply_without_a_reason(lead, incident):
    # A save that bypasses the service (the admin, a script) meets the check constraint.
    with pytest.raises(IntegrityError, match="assessment_not_applying_has_reason"), transaction.atomic():
        RegulatoryAssessment.objects.create(
            incident=incident, regime=regime("nis2"), decision="does_not_apply", reason="", decided_by=lead
        )
    RegulatoryAssessment.objects.create(
        incident=incident, regime=regime("nis2"), decision="does_not_apply", reason="Not an essential entity.",
    )  # fmt: skip
    assert RegulatoryAssessment.objects.count() == 1


def test_an_unknown_decision_is_refused(lead, incident):
    with pytest.raises(ValidationError) as refused:
        services.assessment_decide(incident=incident, regime=regime("nis2"), decision="maybe", reason="", actor=lead)
    assert refused.value.message_dict == {"decision": ["Choose one of: under_assessment, applies, does_not_apply."]}


def test_deciding_it_no_longer_applies_stops_its_clocks(lead, incident):
    applies(incident, lead, "gdpr-art33")
    clock = start(incident, lead, "gdpr-art33", "notification", timezone.now() - timedelta(hours=1))
    assert clock.running and clock.next_alert_at is not None

    services.assessment_decide(
        incident=incident, regime=regime("gdpr-art33"), decision="does_not_apply", reason="Anonymised data.", actor=lead
    )

    clock.refresh_from_db()
    assert not clock.running and clock.next_alert_at is None


# --- Clocks: what is refused --------------------------------------------------------------------
def test_a_clock_needs_the_regime_to_apply(lead, incident):
    with pytest.raises(ValidationError) as refused:
        start(incident, lead, "gdpr-art33", "notification", at("2025-03-28T10:00:00+00:00"))
    assert refused.value.message_dict == {
        "regime": ["Decide that GDPR Art. 33 — supervisory authority applies before starting its clock."]
    }
    services.assessment_decide(
        incident=incident, regime=regime("gdpr-art33"), decision="under_assessment", reason="", actor=lead
    )
    with pytest.raises(ValidationError):
        start(incident, lead, "gdpr-art33", "notification", at("2025-03-28T10:00:00+00:00"))
    assert not DeadlineClock.objects.exists()


def test_a_clock_the_regime_does_not_have_is_refused(lead, incident):
    applies(incident, lead, "gdpr-art33")
    applies(incident, lead, "gdpr-art34")
    with pytest.raises(ValidationError) as refused:
        start(incident, lead, "gdpr-art33", "final_report", at("2025-03-28T10:00:00+00:00"))
    assert refused.value.message_dict == {
        "stage": ["GDPR Art. 33 — supervisory authority has no clock “final_report” (its clocks: notification)."]
    }
    with pytest.raises(ValidationError) as refused:
        start(incident, lead, "gdpr-art34", "notification", at("2025-03-28T10:00:00+00:00"))
    assert refused.value.message_dict == {
        "stage": ["GDPR Art. 34 — data subjects has no clock “notification” (its clocks: none)."]
    }
    assert not DeadlineClock.objects.exists()


def test_a_starting_time_in_the_future_or_without_its_zone_is_refused(lead, incident):
    applies(incident, lead, "gdpr-art33")
    with pytest.raises(ValidationError) as refused:
        start(incident, lead, "gdpr-art33", "notification", timezone.now() + timedelta(minutes=5))
    assert refused.value.message_dict == {"started_at": ["The starting event cannot be in the future."]}
    with pytest.raises(ValidationError) as refused:
        start(incident, lead, "gdpr-art33", "notification", datetime(2025, 3, 28, 10, 0))
    assert refused.value.message_dict == {"started_at": ["Give the time with its time zone."]}
    assert not DeadlineClock.objects.exists()


@pytest.mark.parametrize("reason", ["", "  "])
def test_a_clock_without_a_reason_is_refused(lead, incident, reason):
    gdpr = applies(incident, lead, "gdpr-art33")
    with pytest.raises(ValidationError) as refused:
        services.clock_set(
            incident=incident, regime=gdpr, stage="notification", start_event="awareness",
            started_at=at("2025-03-28T10:00:00+00:00"), reason=reason, actor=lead,
        )  # fmt: skip
    assert refused.value.message_dict == {
        "start_reason": ["Say why this is the starting time (who learned what, how)."]
    }
    assert not DeadlineClock.objects.exists()


def test_a_stopped_clock_cannot_be_set_again(lead, incident):
    applies(incident, lead, "gdpr-art33")
    start(incident, lead, "gdpr-art33", "notification", at("2025-03-28T10:00:00+00:00"))
    notice = services.notice_draft(incident=incident, regime=regime("gdpr-art33"), actor=lead)
    notice = services.notice_approve(notice=notice, actor=lead, version=1)
    services.notice_send(
        notice=notice, actor=lead, sent_at=at("2025-03-30T09:00:00+00:00"), channel="portal", recipient="CNIL"
    )

    with pytest.raises(ValidationError) as refused:
        start(incident, lead, "gdpr-art33", "notification", at("2025-03-28T11:00:00+00:00"))
    assert refused.value.message_dict == {
        "stage": ["The Notification (72 h) clock was stopped: it cannot be set again."]
    }
    assert DeadlineClock.objects.get().started_at == at("2025-03-28T10:00:00+00:00")


# --- Clocks: due times of every built-in regime -------------------------------------------------
def test_gdpr_is_72_hours_after_awareness_across_a_dst_change(lead, incident):
    applies(incident, lead, "gdpr-art33")
    # Europe changed to summer time on 2025-03-30: elapsed hours ignore it.
    clock = start(incident, lead, "gdpr-art33", "notification", at("2025-03-28T10:00:00+01:00"))
    assert clock.due_at == at("2025-03-31T09:00:00+00:00")
    assert (clock.rule, clock.start_event, clock.started_by.username) == ("gdpr", "awareness", "lena")
    assert clock.explanation == "72 hours after awareness at 2025-03-28 09:00 UTC: 2025-03-31 09:00 UTC"
    assert entries(incident, "deadline_set") == [
        (
            "deadline_set",
            "lena",
            {
                "regime": "GDPR Art. 33 — supervisory authority",
                "stage": "notification",
                "start_event": "awareness",
                "started_at": "2025-03-28T10:00:00+01:00",
                "due_at": "2025-03-31T09:00:00+00:00",
                "reason": "The SOC confirmed the exfiltration.",
            },
        )
    ]


def test_correcting_the_start_moves_the_due_time_and_keeps_one_clock(lead, incident):
    applies(incident, lead, "gdpr-art33")
    start(incident, lead, "gdpr-art33", "notification", at("2025-03-28T10:00:00+00:00"))
    clock = start(incident, lead, "gdpr-art33", "notification", at("2025-03-27T22:30:00+00:00"))
    assert DeadlineClock.objects.count() == 1
    assert clock.due_at == at("2025-03-30T22:30:00+00:00")
    assert len(entries(incident, "deadline_set")) == 2


def test_nis2_early_warning_and_notification_from_awareness(lead, incident):
    applies(incident, lead, "nis2")
    early = start(incident, lead, "nis2", "early_warning", at("2025-06-02T08:00:00+00:00"))
    notification = start(incident, lead, "nis2", "notification", at("2025-06-02T08:00:00+00:00"))
    assert early.due_at == at("2025-06-03T08:00:00+00:00")
    assert notification.due_at == at("2025-06-05T08:00:00+00:00")


def test_sec_8k_is_four_business_days_across_thanksgiving(lead, incident):
    applies(incident, lead, "sec-8k")
    # Determined material on Wed 2025-11-26 (New York): Thu 27 is Thanksgiving, then Fri 28,
    # Mon 1, Tue 2, Wed 3 December; due at 17:30 New York time (EST, UTC-5).
    clock = start(
        incident, lead, "sec-8k", "filing", at("2025-11-26T15:00:00-05:00"), start_event=StartEvent.MATERIALITY
    )
    assert clock.due_at == at("2025-12-03T22:30:00+00:00")
    assert "Thanksgiving" in clock.explanation


def test_hipaa_is_60_calendar_days_at_the_same_wall_time(lead, incident):
    applies(incident, lead, "hipaa")
    # 10:00 EST on 2025-01-10; 60 days later is 2025-03-11 10:00, by then EDT (UTC-4).
    clock = start(
        incident, lead, "hipaa", "notification", at("2025-01-10T15:00:00+00:00"), start_event=StartEvent.DISCOVERY
    )
    assert clock.due_at == at("2025-03-11T14:00:00+00:00")


def test_custom_regimes_count_their_duration(lead, incident):
    applies(incident, lead, "contractual")
    applies(incident, lead, "us-state")
    contractual = start(incident, lead, "contractual", "notification", at("2025-05-01T12:00:00+00:00"))
    us_state = start(incident, lead, "us-state", "notification", at("2025-05-01T12:00:00+00:00"))
    assert contractual.due_at == at("2025-05-04T12:00:00+00:00")  # 72 hours
    assert us_state.due_at == at("2025-05-31T12:00:00+00:00")  # 30 days


def test_a_custom_regime_in_business_days_with_holidays(lead, incident):
    Regime.objects.create(
        slug="bafin", name="BaFin contract clause", kind="custom", authority="Our regulator",
        duration=timedelta(days=3), business_days=True, timezone="Europe/Berlin", holiday_country="DE",
    )  # fmt: skip
    applies(incident, lead, "bafin")
    # Thu 2025-04-17 10:00 Berlin: Fri 18 (Good Friday) and Mon 21 (Easter Monday) are holidays,
    # the weekend too: Tue 22, Wed 23, Thu 24 → Thu 24 10:00 CEST.
    clock = start(incident, lead, "bafin", "notification", at("2025-04-17T10:00:00+02:00"))
    assert clock.due_at == at("2025-04-24T08:00:00+00:00")


# --- Reminders and the missed alert through the sweep -------------------------------------------
@pytest.fixture
def team(incident, lead, responder, vendor, executive, admin):
    """On ``incident``: ravi (responder member), victor (vendor member), erin (executive
    observer); cora is counsel and no member; ada the admin is no member."""
    case_services.member_add(incident=incident, user=responder, actor=lead)
    case_services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)
    case_services.member_add(incident=incident, user=executive, actor=lead, role=MemberRole.OBSERVER)
    UserFactory(username="cora", role=Role.RESPONDER, counsel=True)
    UserFactory(username="vince", role=Role.VENDOR, counsel=True)  # the flag means nothing for a vendor
    return incident


def told(reason: str) -> dict[str, list[str]]:
    """{dedupe_key: sorted "username:transport"} of the notifications with ``reason``."""
    out: dict[str, list[str]] = {}
    for key, user, transport in Notification.objects.filter(reason=reason).values_list(
        "dedupe_key", "user__username", "transport"
    ):
        out.setdefault(key, []).append(f"{user}:{transport}")
    return {key: sorted(value) for key, value in out.items()}


def both(*usernames: str) -> list[str]:
    return sorted(f"{name}:{transport}" for name in usernames for transport in ("in_app", "email"))


def test_each_reminder_fires_once_then_the_missed_alert(team, lead):
    applies(team, lead, "gdpr-art33")
    now = timezone.now()
    clock = start(team, lead, "gdpr-art33", "notification", now - timedelta(hours=1))  # due now + 71 h
    assert clock.reminder_leads == [24 * H, 6 * H, H] and clock.reminders_sent == []
    assert clock.next_alert_at == clock.due_at - timedelta(hours=24)
    staff = both("cora", "lena", "ravi")

    sweep(now=now + timedelta(hours=46))  # 25 h before due: nothing yet
    assert told("deadline_reminder") == {}

    sweep(now=now + timedelta(hours=47, seconds=1))
    sweep(now=now + timedelta(hours=47, seconds=1))  # the same moment again: nothing new
    assert told("deadline_reminder") == {f"deadline:{clock.pk}:{24 * H}": staff}

    sweep(now=now + timedelta(hours=65, seconds=1))
    sweep(now=now + timedelta(hours=70, seconds=1))
    sweep(now=now + timedelta(hours=70, seconds=2))
    assert told("deadline_reminder") == {
        f"deadline:{clock.pk}:{24 * H}": staff,
        f"deadline:{clock.pk}:{6 * H}": staff,
        f"deadline:{clock.pk}:{H}": staff,
    }
    assert told("deadline_missed") == {}

    sweep(now=now + timedelta(hours=71, seconds=1))
    sweep(now=now + timedelta(hours=80))
    assert told("deadline_missed") == {f"deadline:{clock.pk}:missed": both("ada", "cora", "lena", "ravi")}
    assert Notification.objects.filter(reason="deadline_reminder").count() == 3 * 6
    clock.refresh_from_db()
    assert clock.missed_at == now + timedelta(hours=71, seconds=1) and clock.next_alert_at is None
    assert clock.running  # missed, still waiting for its notice


def test_reminders_that_fall_due_together_are_one_message(team, lead):
    applies(team, lead, "gdpr-art33")
    now = timezone.now()
    clock = start(team, lead, "gdpr-art33", "notification", now - timedelta(hours=1))
    sweep(now=now + timedelta(hours=66))  # the 24 h and 6 h reminders both due (the sweep was down)
    assert list(told("deadline_reminder")) == [f"deadline:{clock.pk}:{6 * H}"]
    clock.refresh_from_db()
    assert clock.reminders_sent == [24 * H, 6 * H]


def test_reminders_already_past_when_the_clock_is_set_are_not_sent(team, lead):
    applies(team, lead, "gdpr-art33")
    now = timezone.now()
    clock = start(team, lead, "gdpr-art33", "notification", now - timedelta(hours=60))  # due in 12 h
    assert clock.reminders_sent == [24 * H]
    sweep(now=now + timedelta(seconds=1))
    assert told("deadline_reminder") == {}
    sweep(now=now + timedelta(hours=6, seconds=1))
    assert list(told("deadline_reminder")) == [f"deadline:{clock.pk}:{6 * H}"]


def test_a_sent_notice_stops_its_clock(team, lead):
    gdpr = applies(team, lead, "gdpr-art33")
    now = timezone.now()
    clock = start(team, lead, "gdpr-art33", "notification", now - timedelta(hours=1))
    notice = services.notice_draft(incident=team, regime=gdpr, actor=lead)
    services.notice_approve(notice=notice, actor=lead, version=1)
    services.notice_send(notice=notice, actor=lead, sent_at=now, channel="portal", recipient="CNIL")

    clock.refresh_from_db()
    assert (clock.stopped_at, clock.stopped_by_notice_id, clock.next_alert_at) == (now, notice.pk, None)
    for hours in (48, 66, 71, 72):
        sweep(now=now + timedelta(hours=hours))
    assert Notification.objects.filter(reason__in=["deadline_reminder", "deadline_missed"]).count() == 0


def test_nis2_notification_sent_starts_the_final_report_clock(lead, incident):
    nis2 = applies(incident, lead, "nis2")
    start(incident, lead, "nis2", "notification", at("2025-06-02T08:00:00+00:00"))
    notice = services.notice_draft(incident=incident, regime=nis2, stage="notification", actor=lead)
    services.notice_approve(notice=notice, actor=lead, version=1)
    services.notice_send(
        notice=notice, actor=lead, sent_at=at("2025-06-04T10:00:00+00:00"), channel="portal", recipient="CERT-EU",
        authority_reference="CERT-2025-118",
    )  # fmt: skip

    clocks = {c.stage: c for c in DeadlineClock.objects.filter(incident=incident)}
    assert sorted(clocks) == ["final_report", "notification"]
    assert not clocks["notification"].running
    final = clocks["final_report"]
    assert final.running
    assert (final.start_event, final.started_at, final.started_by.username) == (
        "notification_submitted",
        at("2025-06-04T10:00:00+00:00"),
        "lena",
    )
    # 12:00 Brussels (CEST) on 4 June → 12:00 on 4 July.
    assert final.due_at == at("2025-07-04T10:00:00+00:00")
    assert final.start_reason == "The incident notification was submitted to CERT-EU (their reference CERT-2025-118)."


# --- Notices ------------------------------------------------------------------------------------
def test_a_notice_is_drafted_from_the_template(lead, incident):
    gdpr = applies(incident, lead, "gdpr-art33")
    notice = services.notice_draft(incident=incident, regime=gdpr, actor=lead)
    assert (notice.stage, notice.status, notice.version, notice.privileged) == ("notification", "draft", 1, True)
    assert notice.title == f"GDPR Art. 33 — supervisory authority — Notification (72 h) — {incident.reference}"
    assert notice.body.startswith("# Phishing wave against finance\n\nNotification of a personal data breach")
    assert f"**Incident reference:** {incident.reference}" in notice.body
    assert list(NoticeVersion.objects.values_list("number", "author__username")) == [(1, "lena")]


def test_a_notice_needs_the_regime_to_apply(lead, incident):
    with pytest.raises(ValidationError) as refused:
        services.notice_draft(incident=incident, regime=regime("hipaa"), actor=lead)
    assert refused.value.message_dict == {
        "regime": ["Decide that HIPAA breach notification applies before drafting its notice."]
    }
    assert not Notice.objects.exists()


def test_a_notice_from_draft_to_sent(lead, admin, incident):
    gdpr = applies(incident, lead, "gdpr-art33")
    notice = services.notice_draft(incident=incident, regime=gdpr, actor=lead)

    # Approve version 1, then revise: version 2, back to draft, approval cleared.
    notice = services.notice_approve(notice=notice, actor=admin, version=1)
    assert (notice.status, notice.approved_by.username, notice.approved_version) == ("approved", "ada", 1)
    notice = services.notice_revise(notice=notice, body="# Notice\n\nRevised text.", actor=lead, version=1)
    assert (notice.version, notice.status, notice.approved_by, notice.approved_at, notice.approved_version) == (
        2, "draft", None, None, None,
    )  # fmt: skip
    assert list(NoticeVersion.objects.order_by("number").values_list("number", "body")) == [
        (1, Notice.objects.get().versions.get(number=1).body),
        (2, "# Notice\n\nRevised text."),
    ]

    # Sending an unapproved notice is refused; approving a stale version is a conflict.
    with pytest.raises(ValidationError) as refused:
        services.notice_send(notice=notice, actor=lead, sent_at=timezone.now(), channel="portal", recipient="CNIL")
    assert refused.value.message_dict == {"status": ["Approve the notice first: only an approved version is sent."]}
    with pytest.raises(ConflictError) as conflict:
        services.notice_approve(notice=notice, actor=admin, version=1)
    assert conflict.value.current.version == 2
    assert Notice.objects.get().status == "draft"
    with pytest.raises(ConflictError):
        services.notice_revise(notice=notice, body="Other text.", actor=lead, version=1)

    notice = services.notice_approve(notice=notice, actor=admin, version=2)
    sent_at = timezone.now() - timedelta(minutes=5)
    notice = services.notice_send(
        notice=notice, actor=lead, sent_at=sent_at, channel="portal", recipient="CNIL", authority_reference="N-1"
    )
    assert (notice.status, notice.sent_at, notice.sent_by.username, notice.privileged) == (
        "sent", sent_at, "lena", False,
    )  # fmt: skip

    # What was sent is never changed.
    with pytest.raises(ValidationError) as refused:
        services.notice_revise(notice=notice, body="After the fact.", actor=lead, version=2)
    assert refused.value.message_dict == {"body": ["This notice was sent: its text is what the recipient got."]}
    with pytest.raises(ValidationError):
        services.notice_send(notice=notice, actor=lead, sent_at=sent_at, channel="portal", recipient="CNIL")

    verbs = ("notice_drafted", "notice_revised", "notice_approved", "notice_sent")
    assert [(verb, actor, data["version"]) for verb, actor, data in entries(incident, *verbs)] == [
        ("notice_drafted", "lena", 1),
        ("notice_approved", "ada", 1),
        ("notice_revised", "lena", 2),
        ("notice_approved", "ada", 2),
        ("notice_sent", "lena", 2),
    ]
    assert entries(incident, "notice_sent")[0][2] == {
        "notice_id": notice.pk,
        "title": notice.title,
        "version": 2,
        "recipient": "CNIL",
        "channel": "portal",
        "reference": "N-1",
    }


def test_sending_needs_when_how_and_to_whom(lead, incident):
    gdpr = applies(incident, lead, "gdpr-art33")
    notice = services.notice_draft(incident=incident, regime=gdpr, actor=lead)
    notice = services.notice_approve(notice=notice, actor=lead, version=1)
    with pytest.raises(ValidationError) as refused:
        services.notice_send(
            notice=notice, actor=lead, sent_at=timezone.now() + timedelta(hours=1), channel=" ", recipient=""
        )
    assert refused.value.message_dict == {
        "channel": ["How was it sent (portal, e-mail, letter…)?"],
        "recipient": ["To whom was it sent?"],
        "sent_at": ["A notice cannot be recorded as sent in the future."],
    }
    assert Notice.objects.get().status == "approved"
