"""Escalation and notification services: starting, sweeping, acknowledging, SLAs, members told.

Through the public services (incident_open and friends, ``sweep``, ``incident_acknowledge``,
``notification_deliver``); times are passed to ``sweep(now=...)`` rather than waited for. Real
transports and receivers are in test_transport_*.py; real worker, beat and Redis in
test_reliability.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import Role
from incidents import services
from incidents.models import Activity, Category, Incident, MemberRole, Severity, Status
from notifications import services as paging
from notifications.models import (
    Acknowledgement,
    Channel,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Notification,
    SlaClock,
)
from tests.factories import UserFactory, make_incident

# A port nothing listens on: deliveries there fail with "connection refused" (transient).
DEAD_URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def oncall(db):
    return UserFactory(username="omar", role=Role.RESPONDER, email="omar@example.com")


@pytest.fixture
def soar(db) -> Channel:
    return Channel.objects.create(name="soar", kind="webhook", target=DEAD_URL)


@pytest.fixture
def critical_policy(oncall, soar) -> EscalationPolicy:
    """Critical incidents: the lead and the SOAR webhook at once, the on-call responder after 10
    minutes, then the lead again after 30."""
    policy = EscalationPolicy.objects.create(name="Critical", position=10, severities=["critical"])
    first = EscalationStep.objects.create(policy=policy, position=1, delay=timedelta(0))
    first.channels.add(soar)
    second = EscalationStep.objects.create(policy=policy, position=2, delay=timedelta(minutes=10), include_lead=False)
    second.users.add(oncall)
    EscalationStep.objects.create(policy=policy, position=3, delay=timedelta(minutes=30))
    return policy


def rows(incident) -> list[tuple[str, str, str, str]]:
    """(dedupe key, recipient, transport, status) of the incident's notifications, in a stable order."""
    return list(
        Notification.objects.filter(incident=incident)
        .order_by("dedupe_key", "recipient")
        .values_list("dedupe_key", "recipient", "transport", "status")
    )


def open_critical(lead, **fields):
    fields.setdefault("title", "Contractor VPN credentials used from abroad")
    return make_incident(opened_by=lead, lead=lead, severity=Severity.CRITICAL, **fields)


# --- Starting --------------------------------------------------------------------------------
def test_opening_a_critical_incident_starts_its_policy_at_the_first_step(lead, critical_policy):
    incident = open_critical(lead)

    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.policy, escalation.severity, escalation.next_step) == (critical_policy, "critical", 1)
    assert escalation.next_at == incident.created_at
    assert escalation.stopped_at is None
    # Nothing is sent in the request itself: the sweep writes the notifications.
    assert rows(incident) == []


def test_no_policy_for_the_severity_means_no_escalation(lead, critical_policy):
    incident = make_incident(opened_by=lead, lead=lead, severity=Severity.MEDIUM)

    assert not Escalation.objects.filter(incident=incident).exists()


def test_the_first_matching_policy_by_position_wins_and_categories_narrow_it(lead, critical_policy):
    ransomware = EscalationPolicy.objects.create(
        name="Ransomware", position=5, severities=["critical", "high"], categories=["ransomware"]
    )
    EscalationStep.objects.create(policy=ransomware, position=1)

    encrypted = open_critical(lead, category=Category.RANSOMWARE)
    phished = open_critical(lead, category=Category.PHISHING)

    assert Escalation.objects.get(incident=encrypted).policy == ransomware
    assert Escalation.objects.get(incident=phished).policy == critical_policy


def test_an_inactive_policy_is_skipped(lead, critical_policy):
    critical_policy.active = False
    critical_policy.save()

    incident = open_critical(lead)

    assert not Escalation.objects.filter(incident=incident).exists()


# --- The sweep -------------------------------------------------------------------------------
def test_the_sweep_pages_the_first_step_and_schedules_the_next(lead, critical_policy, soar):
    incident = open_critical(lead)
    escalation = Escalation.objects.get(incident=incident)

    result = paging.sweep(now=incident.created_at + timedelta(seconds=1))

    assert result.steps == 1
    key = f"esc:{escalation.pk}:1"
    assert rows(incident) == [
        (key, f"channel:{soar.pk}", "webhook", "queued"),
        (key, f"user:{lead.pk}:email", "email", "queued"),
        (key, f"user:{lead.pk}:in_app", "in_app", "delivered"),
    ]
    escalation.refresh_from_db()
    assert (escalation.next_step, escalation.steps_fired) == (2, 1)
    assert escalation.next_at == incident.created_at + timedelta(minutes=10)
    entry = Activity.objects.filter(incident=incident, verb="escalated").get()
    assert (entry.internal, entry.data) == (True, {"policy": "Critical", "step": 1, "paged": ["lena", "#soar"]})


def test_a_message_carries_the_incident_and_a_signed_acknowledge_link(lead, critical_policy, settings):
    settings.SITE_URL = "https://breachline.example.org"
    incident = open_critical(lead)
    paging.sweep(now=incident.created_at)

    email = Notification.objects.get(incident=incident, transport="email")
    assert email.subject == f"[Breachline] CRITICAL {incident.reference}: needs acknowledgement"
    assert email.body.splitlines() == [
        f"{incident.reference} — Contractor VPN credentials used from abroad",
        "Severity: Critical",
        "Status: New",
        "",
        "Escalation policy “Critical”, level 1.",
        "",
        f"Open it: https://breachline.example.org/incidents/{incident.reference}/",
    ]
    assert email.data["acknowledge_url"].startswith("https://breachline.example.org/ack/")
    assert paging.acknowledge_link_resolve(email.data["acknowledge_url"].rsplit("/", 2)[-2]) == email


def test_a_sweep_run_twice_sends_nothing_twice(lead, critical_policy):
    incident = open_critical(lead)
    now = incident.created_at + timedelta(seconds=1)

    paging.sweep(now=now)
    first = rows(incident)
    again = paging.sweep(now=now)

    assert (again.steps, again.notifications) == (0, [])
    assert rows(incident) == first


def test_steps_fire_at_their_delay_and_the_policy_ends_after_the_last(lead, oncall, critical_policy):
    incident = open_critical(lead)
    start = incident.created_at
    escalation = Escalation.objects.get(incident=incident)

    paging.sweep(now=start)
    assert paging.sweep(now=start + timedelta(minutes=9, seconds=59)).steps == 0
    assert paging.sweep(now=start + timedelta(minutes=10)).steps == 1
    assert [r[1] for r in rows(incident) if r[0] == f"esc:{escalation.pk}:2"] == [
        f"user:{oncall.pk}:email",
        f"user:{oncall.pk}:in_app",
    ]
    assert paging.sweep(now=start + timedelta(minutes=30)).steps == 1

    escalation.refresh_from_db()
    assert (escalation.next_step, escalation.next_at, escalation.steps_fired) == (None, None, 3)
    assert escalation.stopped_at is None  # still unacknowledged: shown as such, but nothing more to page
    assert paging.sweep(now=start + timedelta(days=1)).steps == 0


def test_a_sweep_after_downtime_catches_up_every_missed_step(lead, critical_policy):
    incident = open_critical(lead)

    result = paging.sweep(now=incident.created_at + timedelta(hours=2))

    # One pass fires what is due; the next due step was due already, so the next batch fires it.
    assert result.steps >= 1
    while paging.sweep(now=incident.created_at + timedelta(hours=2)).steps:
        pass
    assert Escalation.objects.get(incident=incident).steps_fired == 3


def test_a_person_who_may_not_see_a_restricted_incident_is_not_paged(lead, oncall, critical_policy, soar):
    incident = open_critical(lead, restricted=True)
    paging.sweep(now=incident.created_at + timedelta(minutes=10))
    while paging.sweep(now=incident.created_at + timedelta(minutes=10)).steps:
        pass

    recipients = {r[1] for r in rows(incident)}
    assert f"user:{oncall.pk}:in_app" not in recipients  # omar is not a member
    assert f"user:{lead.pk}:in_app" in recipients
    # The shared channel learns the reference and severity, never the title.
    webhook = Notification.objects.filter(incident=incident, channel=soar).first()
    assert webhook.data["incident"]["title"] == "(restricted incident)"
    assert "Contractor VPN" not in webhook.body


def test_closing_stops_paging(lead, critical_policy):
    # Closing straight from new is also its first acknowledgement (it leaves new): the escalation
    # stops as acknowledged. One started later (severity raised) stops as closed.
    incident = make_incident(opened_by=lead, lead=lead, severity=Severity.HIGH)
    services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
    incident = services.incident_update(
        incident=incident, actor=lead, version=incident.version + 1, changes={"severity": "critical"}
    )
    services.incident_close(incident=incident, actor=lead, resolution="false_positive")

    assert paging.sweep(now=incident.created_at + timedelta(hours=1)).steps == 0
    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.stop_reason, escalation.next_at) == ("closed", None)


# --- Acknowledging ---------------------------------------------------------------------------
def test_acknowledging_stops_the_escalation_and_stamps_the_milestone(lead, critical_policy):
    incident = open_critical(lead)
    paging.sweep(now=incident.created_at)

    ack = paging.incident_acknowledge(incident=incident, actor=lead, channel="web")

    incident.refresh_from_db()
    assert (ack.user, ack.channel, ack.escalation) == (lead, "web", Escalation.objects.get(incident=incident))
    assert incident.acknowledged_at == ack.at
    escalation = Escalation.objects.get(incident=incident)
    assert escalation.stopped_at == ack.at
    assert escalation.stop_reason == f"acknowledged by {lead}"
    assert paging.sweep(now=incident.created_at + timedelta(hours=1)).steps == 0
    assert SlaClock.objects.get(incident=incident, kind="acknowledge").met_at == ack.at


def test_acknowledging_twice_is_a_conflict_that_names_who_did_it_first(lead, responder, critical_policy):
    incident = open_critical(lead)
    services.member_add(incident=incident, user=responder, actor=lead)
    paging.incident_acknowledge(incident=incident, actor=lead, channel="web")

    with pytest.raises(paging.AlreadyAcknowledged) as conflict:
        paging.incident_acknowledge(incident=incident, actor=responder, channel="api")

    assert f"{incident.reference} was already acknowledged by {lead} at" in str(conflict.value)
    assert Acknowledgement.objects.filter(incident=incident).count() == 1


def test_leaving_new_is_the_first_acknowledgement_and_the_two_agree(lead, critical_policy):
    incident = open_critical(lead)
    paging.sweep(now=incident.created_at)

    services.incident_transition(incident=incident, to=Status.TRIAGE, actor=lead)

    incident.refresh_from_db()
    ack = Acknowledgement.objects.get(incident=incident)
    assert (ack.channel, ack.user) == ("status", lead)
    assert incident.acknowledged_at == ack.at
    assert Escalation.objects.get(incident=incident).stopped_at == ack.at


def test_an_explicit_acknowledgement_then_leaving_new_records_one_acknowledgement(lead, critical_policy):
    incident = open_critical(lead)
    first = paging.incident_acknowledge(incident=incident, actor=lead, channel="api")

    services.incident_transition(incident=incident, to=Status.TRIAGE, actor=lead)

    incident.refresh_from_db()
    assert list(Acknowledgement.objects.filter(incident=incident).values_list("channel", flat=True)) == ["api"]
    assert incident.acknowledged_at == first.at


def test_an_unknown_or_status_channel_is_refused(lead, critical_policy):
    incident = open_critical(lead)
    for channel in ("status", "pigeon"):
        with pytest.raises(ValidationError):
            paging.incident_acknowledge(incident=incident, actor=lead, channel=channel)
    assert not Acknowledgement.objects.exists()


def test_an_executive_may_not_acknowledge(lead, executive, critical_policy):
    incident = open_critical(lead)

    with pytest.raises(PermissionDenied):
        paging.incident_acknowledge(incident=incident, actor=executive, channel="web")
    assert Escalation.objects.get(incident=incident).stopped_at is None


def test_the_link_in_a_persons_message_acknowledges_as_that_person(lead, critical_policy):
    incident = open_critical(lead)
    paging.sweep(now=incident.created_at)
    email = Notification.objects.get(incident=incident, transport="email")

    ack = paging.acknowledge_by_link(notification=email, user=None)

    assert (ack.user, ack.channel, ack.notification) == (lead, "link", email)


def test_the_link_in_a_channel_message_needs_someone_signed_in(lead, critical_policy, soar):
    incident = open_critical(lead)
    paging.sweep(now=incident.created_at)
    webhook = Notification.objects.get(incident=incident, channel=soar)

    with pytest.raises(PermissionDenied):
        paging.acknowledge_by_link(notification=webhook, user=None)
    ack = paging.acknowledge_by_link(notification=webhook, user=lead)
    assert (ack.user, ack.channel) == (lead, "link")


def test_a_tampered_link_is_refused(lead, critical_policy):
    from django.core import signing

    with pytest.raises(signing.BadSignature):
        paging.acknowledge_link_resolve("eyJuIjoiMSJ9:1xWSH5:forged")


# --- Severity changes ------------------------------------------------------------------------
def test_raising_the_severity_starts_the_new_severitys_policy_even_after_an_acknowledgement(lead, critical_policy):
    incident = make_incident(opened_by=lead, lead=lead, severity=Severity.HIGH)
    paging.incident_acknowledge(incident=incident, actor=lead, channel="web")
    assert not Escalation.objects.filter(incident=incident).exists()

    incident = services.incident_update(
        incident=incident, actor=lead, version=incident.version, changes={"severity": "critical"}
    )

    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.policy, escalation.severity, escalation.stopped_at) == (critical_policy, "critical", None)
    # Acknowledging again stops it; the milestone keeps the first acknowledgement.
    first = incident.acknowledged_at
    paging.incident_acknowledge(incident=incident, actor=lead, channel="web")
    incident.refresh_from_db()
    assert incident.acknowledged_at == first
    assert Escalation.objects.get(incident=incident).stopped_at is not None


def test_lowering_the_severity_leaves_paging_alone(lead, critical_policy):
    incident = open_critical(lead)
    services.incident_update(incident=incident, actor=lead, version=incident.version, changes={"severity": "high"})

    assert list(Escalation.objects.filter(incident=incident).values_list("stopped_at", flat=True)) == [None]


def test_a_second_run_supersedes_the_first(lead, critical_policy):
    high = EscalationPolicy.objects.create(name="High", position=20, severities=["high"])
    EscalationStep.objects.create(policy=high, position=1, delay=timedelta(minutes=5))
    incident = make_incident(opened_by=lead, lead=lead, severity=Severity.HIGH)

    services.incident_update(incident=incident, actor=lead, version=incident.version, changes={"severity": "critical"})

    runs = list(Escalation.objects.filter(incident=incident).order_by("id").values_list("policy__name", "stop_reason"))
    assert runs == [("High", "superseded (severity raised to critical)"), ("Critical", "")]


# --- SLAs ------------------------------------------------------------------------------------
def test_sla_clocks_start_at_opening_from_the_severity_targets(lead):
    incident = open_critical(lead)

    clocks = dict(SlaClock.objects.filter(incident=incident).values_list("kind", "due_at"))
    # The defaults (migration notifications 0002): critical 15 minutes / 4 hours.
    assert clocks == {
        "acknowledge": incident.reported_at + timedelta(minutes=15),
        "contain": incident.reported_at + timedelta(hours=4),
    }


def test_an_unacknowledged_incident_breaches_its_sla_once_and_tells_lead_and_members(lead, responder, vendor):
    incident = open_critical(lead)
    services.member_add(incident=incident, user=responder, actor=lead)
    services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)
    due = incident.reported_at + timedelta(minutes=15)

    assert paging.sweep(now=due - timedelta(seconds=1)).breaches == 0
    assert paging.sweep(now=due).breaches == 1
    assert paging.sweep(now=due + timedelta(minutes=5)).breaches == 0

    clock = SlaClock.objects.get(incident=incident, kind="acknowledge")
    assert clock.breached_at == due
    told = sorted(Notification.objects.filter(reason="sla_breach").values_list("recipient", flat=True))
    # Not the vendor collaborator: an SLA breach is internal business.
    assert told == sorted(
        [f"user:{lead.pk}:email", f"user:{lead.pk}:in_app", f"user:{responder.pk}:email", f"user:{responder.pk}:in_app"]
    )
    entry = Activity.objects.get(incident=incident, verb="sla_breached")
    assert (entry.internal, entry.data["kind"]) == (True, "acknowledge")


def test_an_acknowledged_incident_does_not_breach_the_acknowledge_sla(lead):
    incident = open_critical(lead)
    paging.incident_acknowledge(incident=incident, actor=lead, channel="web")

    assert paging.sweep(now=incident.reported_at + timedelta(minutes=16)).breaches == 0


def test_containment_meets_the_contain_clock(lead):
    incident = open_critical(lead)
    services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
    services.incident_transition(incident=incident, to=Status.CONTAINED, actor=lead)

    incident.refresh_from_db()
    assert SlaClock.objects.get(incident=incident, kind="contain").met_at == incident.contained_at
    assert paging.sweep(now=incident.reported_at + timedelta(hours=5)).breaches == 0


def test_a_severity_change_moves_the_clocks_not_yet_met(lead):
    incident = make_incident(opened_by=lead, lead=lead, severity=Severity.LOW)
    assert SlaClock.objects.get(incident=incident, kind="contain").due_at == incident.reported_at + timedelta(days=7)

    services.incident_update(incident=incident, actor=lead, version=incident.version, changes={"severity": "high"})

    assert SlaClock.objects.get(incident=incident, kind="contain").due_at == incident.reported_at + timedelta(hours=24)


def test_closing_stops_the_clocks(lead):
    incident = open_critical(lead)
    services.incident_close(incident=incident, actor=lead, resolution="false_positive")

    assert paging.sweep(now=incident.reported_at + timedelta(days=1)).breaches == 0


# --- Members told of status changes and critical findings -----------------------------------------
def test_a_status_change_tells_the_members_but_not_the_one_who_made_it(lead, responder, vendor):
    incident = make_incident(opened_by=lead, lead=lead, severity=Severity.MEDIUM)
    services.member_add(incident=incident, user=responder, actor=lead)
    services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)

    services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=responder)

    told = Notification.objects.filter(reason="status_changed")
    assert sorted(told.values_list("recipient", flat=True)) == sorted(
        [f"user:{lead.pk}:email", f"user:{lead.pk}:in_app", f"user:{vendor.pk}:email", f"user:{vendor.pk}:in_app"]
    )
    assert told.first().subject == f"[Breachline] MEDIUM {incident.reference}: status new → investigating"


def test_a_critical_finding_tells_the_members_and_an_ordinary_one_does_not(lead, responder, vendor):
    incident = make_incident(opened_by=lead, lead=lead, severity=Severity.HIGH)
    services.member_add(incident=incident, user=responder, actor=lead)
    services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)

    services.finding_add(incident=incident, author=responder, body="Same token seen on the backup host.")
    assert not Notification.objects.filter(reason="critical_finding").exists()

    services.finding_add(incident=incident, author=responder, body="Domain admin hash dumped.", critical=True)
    services.finding_add(
        incident=incident, author=responder, body="Internal: counsel informed.", critical=True, internal=True
    )

    told = list(
        Notification.objects.filter(reason="critical_finding", transport="in_app")
        .order_by("id")
        .values_list("user__username", "data__detail")
    )
    assert told == [
        ("lena", f"{responder} recorded a critical finding:\nDomain admin hash dumped."),
        ("victor", f"{responder} recorded a critical finding:\nDomain admin hash dumped."),
        ("lena", f"{responder} recorded a critical finding:\nInternal: counsel informed."),
    ]


# --- Delivery: claims, leases, retries -------------------------------------------------------------
@pytest.fixture
def queued(lead, critical_policy, soar) -> Notification:
    incident = open_critical(lead)
    paging.sweep(now=incident.created_at)
    return Notification.objects.get(incident=incident, channel=soar)


def test_a_transient_error_is_recorded_and_retried_with_backoff(queued, settings):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 10
    before = timezone.now()

    assert paging.notification_deliver(notification_id=queued.pk) == "retry"

    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("queued", 1)
    assert queued.last_error == "Connection failed: [Errno 111] Connection refused (127.0.0.1:9)"
    assert [entry["error"] for entry in queued.attempt_log] == [queued.last_error]
    assert before + timedelta(seconds=10) <= queued.lease_until <= timezone.now() + timedelta(seconds=10)


def test_out_of_attempts_fails_with_the_last_error(queued, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2

    assert paging.notification_deliver(notification_id=queued.pk) == "retry"
    assert paging.notification_deliver(notification_id=queued.pk) == "failed"
    assert paging.notification_deliver(notification_id=queued.pk) == "skipped"

    queued.refresh_from_db()
    assert (queued.status, queued.attempts, len(queued.attempt_log)) == ("failed", 2, 2)


def test_a_row_being_sent_is_not_taken_by_a_second_worker_until_its_lease_runs_out(queued):
    Notification.objects.filter(pk=queued.pk).update(
        status="sending", lease_until=timezone.now() + timedelta(minutes=1)
    )
    assert paging.notification_deliver(notification_id=queued.pk) == "skipped"

    Notification.objects.filter(pk=queued.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert paging.notification_deliver(notification_id=queued.pk) == "retry"


def test_the_sweep_takes_back_rows_whose_lease_ran_out(queued, settings):
    settings.NOTIFICATION_LEASE_SECONDS = 60
    now = timezone.now()
    Notification.objects.filter(pk=queued.pk).update(status="sending", lease_until=now - timedelta(seconds=1))

    result = paging.sweep(now=now)

    assert result.requeued == 1
    queued.refresh_from_db()
    assert queued.status == "queued"  # claimable again by the delivery task enqueued with it
    assert queued.lease_until == now + timedelta(seconds=60)
    assert paging.sweep(now=now).requeued == 0


def test_a_disabled_channel_fails_its_pending_rows_at_once(queued, soar):
    soar.active = False
    soar.save()

    assert paging.notification_deliver(notification_id=queued.pk) == "failed"
    queued.refresh_from_db()
    assert queued.last_error == "The channel soar is disabled."


def test_testing_a_channel_is_for_admins_and_leads(lead, responder, soar):
    with pytest.raises(PermissionDenied):
        paging.channel_test(channel=soar, actor=responder)

    row = paging.channel_test(channel=soar, actor=lead)
    assert (row.reason, row.recipient, row.status, row.incident) == ("test", f"channel:{soar.pk}", "queued", None)


def test_marking_read(lead, critical_policy):
    incident = open_critical(lead)
    paging.sweep(now=incident.created_at)
    assert Notification.objects.unread_for(lead).count() == 1

    assert paging.notifications_mark_read(user=lead) == 1
    assert Notification.objects.unread_for(lead).count() == 0


def test_a_breach_on_an_incident_nobody_owns_goes_to_the_incident_leads(api, lead, admin):
    # A SIEM's key opened it: no lead, and its only member is the integration.
    UserFactory(username="lars", role=Role.LEAD)
    response = api("incidents:read", "incidents:write").post(
        "/api/v1/incidents/", {"title": "Canary file modified", "severity": "critical"}, format="json"
    )
    assert response.status_code == 201, response.content
    incident = Incident.objects.get(reference=response.json()["reference"])

    paging.sweep(now=incident.reported_at + timedelta(minutes=15))

    told = Notification.objects.filter(reason="sla_breach", transport="in_app").values_list("user__username", flat=True)
    assert sorted(told) == ["lars", "lena"]  # the two incident leads; not ada, the admin


def test_next_due_is_the_earliest_step_or_clock_within_the_window(lead, critical_policy):
    incident = open_critical(lead)
    start = incident.created_at
    paging.sweep(now=start)  # step 1 fired; step 2 at +10 min, the acknowledge SLA at +15 min

    assert paging.next_due(within=timedelta(seconds=15), now=start) is None
    assert paging.next_due(within=timedelta(minutes=12), now=start) == start + timedelta(minutes=10)
    paging.incident_acknowledge(incident=incident, actor=lead, channel="web")
    # Acknowledged: no step left, the acknowledge clock met; the contain clock at +4 h remains.
    assert paging.next_due(within=timedelta(hours=1), now=start) is None
    assert paging.next_due(within=timedelta(hours=5), now=start) == incident.reported_at + timedelta(hours=4)


def test_the_sweeps_entries_are_audited_once_each_and_chained(lead, critical_policy):
    from accounts.audit import chain_problems
    from accounts.models import AuditEntry

    incident = open_critical(lead)
    # Step 1 paged (step 2, also due, waits for the next pass) and the acknowledge SLA breached.
    paging.sweep(now=incident.reported_at + timedelta(minutes=15))

    summaries = sorted(
        AuditEntry.objects.filter(
            incident_reference=incident.reference, summary__regex=r"^(escalated|sla_breached):"
        ).values_list("summary", flat=True)
    )
    assert [s.split(":")[0] for s in summaries] == ["escalated", "sla_breached"]
    assert list(chain_problems()) == []
