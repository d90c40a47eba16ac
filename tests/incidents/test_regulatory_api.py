"""The notification register API (``incidents/regulatory/api.py``): the register, the clocks and the
notices under ``/api/v1/incidents/{reference}/``, each success beside its 400/403/404/409.

Who may do what is proven through the services in test_regulatory_permissions.py; here each write
is shown refused once with 403 (the rule) and 404 (who may not see the register at all).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role, Scope
from incidents import services as case_services
from incidents.models import DeadlineClock, MemberRole, Notice, Regime, RegulatoryAssessment
from incidents.regulatory import services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READ, WRITE = Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE
SLUGS = ["gdpr-art33", "gdpr-art34", "nis2", "sec-8k", "hipaa", "us-state", "contractual"]


def url(incident, tail: str) -> str:
    return f"/api/v1/incidents/{incident.reference}/{tail}"


@pytest.fixture
def members(incident, lead, responder, vendor):
    case_services.member_add(incident=incident, user=responder, actor=lead)
    case_services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)
    return incident


def gdpr_applies(incident, lead) -> Regime:
    gdpr = Regime.objects.get(slug="gdpr-art33")
    services.assessment_decide(incident=incident, regime=gdpr, decision="applies", reason="PII.", actor=lead)
    return gdpr


# --- The register -------------------------------------------------------------------------------
def test_the_register_lists_every_regime(api, lead, incident):
    gdpr_applies(incident, lead)
    response = api(READ, user=lead).get(url(incident, "register/"))
    assert response.status_code == 200
    rows = response.json()
    assert [row["slug"] for row in rows] == SLUGS
    first = rows[0]
    assert {key: first[key] for key in ("slug", "name", "kind", "authority", "decision", "reason", "decided_by")} == {
        "slug": "gdpr-art33",
        "name": "GDPR Art. 33 — supervisory authority",
        "kind": "gdpr_art33",
        "authority": "Lead supervisory authority",
        "decision": "applies",
        "reason": "PII.",
        "decided_by": "lena",
    }
    assert first["decided_at"] is not None
    assert first["stages"] == [{"name": "notification", "label": "Notification (72 h)"}]
    assert first["clocks"] == [] and first["notices"] == []
    nis2 = rows[2]
    assert (nis2["decision"], nis2["reason"], nis2["decided_by"], nis2["decided_at"]) == (None, "", None, None)
    assert [stage["name"] for stage in nis2["stages"]] == ["early_warning", "notification", "final_report"]
    assert rows[1]["stages"] == []  # GDPR Art. 34: no fixed deadline


def test_the_register_costs_the_same_whatever_it_holds(postgres, api, lead, incident, django_assert_num_queries):
    # Counts on PostgreSQL: the audit log's append takes an advisory lock there (none on SQLite).
    client = api(READ, user=lead)
    gdpr = gdpr_applies(incident, lead)
    services.clock_set(
        incident=incident, regime=gdpr, stage="notification", start_event="awareness",
        started_at=timezone.now() - timedelta(hours=1), reason="SOC.", actor=lead,
    )  # fmt: skip
    services.notice_draft(incident=incident, regime=gdpr, actor=lead)
    services.notice_draft(incident=incident, regime=gdpr, actor=lead)
    # 2 for the key (look-up with its principal, last-used stamp) + 3 auditing that first use
    # (lock, chain head, insert: accounts.audit) + 1 the incident + 4 the register (assessments,
    # regimes, clocks, notices): the regime of each clock and notice is not read again.
    with django_assert_num_queries(10):
        assert client.get(url(incident, "register/")).status_code == 200


def test_decide_through_the_api(api, lead, incident):
    client = api(READ, WRITE, user=lead)
    response = client.put(
        url(incident, "register/nis2/"), {"decision": "does_not_apply", "reason": "Not an essential entity."}, "json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["slug"], body["decision"], body["reason"], body["decided_by"]) == (
        "nis2",
        "does_not_apply",
        "Not an essential entity.",
        "lena",
    )
    assert RegulatoryAssessment.objects.get().decision == "does_not_apply"


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"decision": "does_not_apply"},
            {"reason": ["Say why it does not apply: the reasoning is part of the register."]},
        ),
        ({"decision": "perhaps"}, {"decision": ['"perhaps" is not a valid choice.']}),
        ({}, {"decision": ["This field is required."]}),
        ({"decision": "applies", "decided_by": "ada"}, {"decided_by": ["This field is read-only."]}),
        ({"decision": "applies", "why": "x"}, {"why": ["Unknown field."]}),
    ],
)
def test_a_bad_decision_is_400(api, lead, incident, payload, errors):
    response = api(READ, WRITE, user=lead).put(url(incident, "register/nis2/"), payload, "json")
    assert (response.status_code, response.json()) == (400, errors)
    assert not RegulatoryAssessment.objects.exists()


def test_deciding_is_refused_by_the_rule_table(api, responder, members):
    response = api(READ, WRITE, user=responder).put(
        url(members, "register/nis2/"), {"decision": "applies", "reason": "x"}, "json"
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only the incident's lead, an admin or counsel may decide on notification duties."
    }
    assert not RegulatoryAssessment.objects.exists()


def test_a_read_only_key_may_not_decide(api, lead, incident):
    response = api(READ, user=lead).put(url(incident, "register/nis2/"), {"decision": "applies"}, "json")
    assert response.status_code == 403
    assert not RegulatoryAssessment.objects.exists()


def test_an_unknown_regime_is_404(api, lead, incident):
    response = api(READ, WRITE, user=lead).put(url(incident, "register/gdpr-art99/"), {"decision": "applies"}, "json")
    assert response.status_code == 404


def test_a_write_only_key_learns_which_row_it_wrote(api, lead, incident):
    response = api(WRITE, user=lead).put(url(incident, "register/nis2/"), {"decision": "applies"}, "json")
    assert (response.status_code, response.json()) == (200, {"regime": "nis2"})


# --- Who sees nothing: 404 ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "tail", "payload"),
    [
        ("get", "register/", None),
        ("put", "register/gdpr-art33/", {"decision": "applies"}),
        ("get", "clocks/", None),
        ("get", "notices/", None),
        ("post", "notices/", {"regime": "gdpr-art33"}),
    ],
)
def test_a_vendor_collaborator_member_gets_404(api, vendor, members, method, tail, payload):
    client = api(READ, WRITE, user=vendor)
    response = getattr(client, method)(url(members, tail), payload, "json")
    assert response.status_code == 404


def test_a_vendor_collaborator_cannot_reach_a_notice(api, lead, vendor, members):
    notice = services.notice_draft(incident=members, regime=gdpr_applies(members, lead), actor=lead)
    client = api(READ, WRITE, user=vendor)
    for tail in (f"notices/{notice.pk}/", f"notices/{notice.pk}/export.md"):
        assert client.get(url(members, tail)).status_code == 404
    assert client.post(url(members, f"notices/{notice.pk}/approve/"), {"version": 1}, "json").status_code == 404
    assert Notice.objects.get().status == "draft"


def test_an_incident_the_caller_may_not_see_is_404(api, outsider, restricted_incident):
    client = api(READ, WRITE, user=outsider)
    assert client.get(url(restricted_incident, "register/")).status_code == 404
    assert client.get(url(restricted_incident, "clocks/")).status_code == 404
    response = client.put(url(restricted_incident, "register/nis2/"), {"decision": "applies"}, "json")
    assert response.status_code == 404


def test_another_incidents_notice_is_404(api, lead, incident):
    notice = services.notice_draft(incident=incident, regime=gdpr_applies(incident, lead), actor=lead)
    other = case_services.incident_open(opened_by=lead, title="Another one", severity="low", category="malware")
    assert api(READ, user=lead).get(url(other, f"notices/{notice.pk}/")).status_code == 404


# --- Clocks ---------------------------------------------------------------------------------------
def test_set_a_clock(api, lead, incident):
    gdpr_applies(incident, lead)
    client = api(READ, WRITE, user=lead)
    response = client.put(
        url(incident, "clocks/gdpr-art33/notification/"),
        {"start_event": "awareness", "started_at": "2025-03-28T10:00:00+01:00", "reason": "SOC ticket 4411."},
        "json",
    )
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("regime", "stage", "rule", "start_event", "started_by", "start_reason")} == {
        "regime": "gdpr-art33",
        "stage": "notification",
        "rule": "gdpr",
        "start_event": "awareness",
        "started_by": "lena",
        "start_reason": "SOC ticket 4411.",
    }
    assert body["started_at"] == "2025-03-28T09:00:00Z"  # in TIME_ZONE (UTC)
    assert body["due_at"] == "2025-03-31T09:00:00Z"
    assert body["explanation"] == "72 hours after awareness at 2025-03-28 09:00 UTC: 2025-03-31 09:00 UTC"
    assert (body["running"], body["missed_at"], body["stopped_at"], body["stopped_by_notice"]) == (
        True,
        None,
        None,
        None,
    )
    assert body["reminder_leads"] == [86400, 21600, 3600]
    assert body["reminders_sent"] == [86400, 21600, 3600]  # all long past

    listed = client.get(url(incident, "clocks/")).json()
    assert [(c["regime"], c["stage"], c["due_at"]) for c in listed] == [("gdpr-art33", "notification", body["due_at"])]


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"start_event": "awareness", "started_at": "2025-03-28T10:00:00", "reason": "x"},
            {
                "started_at": [
                    "Give the time with its UTC offset (e.g. 2026-03-02T14:05:00+01:00 or …Z): a time without one "
                    "is ambiguous."
                ]
            },
        ),
        (
            {"start_event": "awareness", "started_at": "2999-01-01T00:00:00Z", "reason": "x"},
            {"started_at": ["The starting event cannot be in the future."]},
        ),
        (
            {"start_event": "rumour", "started_at": "2025-03-28T10:00:00Z", "reason": "x"},
            {"start_event": ['"rumour" is not a valid choice.']},
        ),
        (
            {"start_event": "awareness", "started_at": "2025-03-28T10:00:00Z", "reason": ""},
            {"reason": ["This field may not be blank."]},
        ),
        (
            {"start_event": "awareness", "started_at": "2025-03-28T10:00:00Z", "reason": "x", "due_at": "2025-04-01"},
            {"due_at": ["Computed from the regime's rule and started_at."]},
        ),
        (
            {"start_event": "awareness", "started_at": "2025-03-28T10:00:00Z", "reason": "x", "reminder_leads": [0]},
            {"reminder_leads": {"0": ["Ensure this value is greater than or equal to 1."]}},
        ),
    ],
)
def test_a_bad_clock_is_400(api, lead, incident, payload, errors):
    gdpr_applies(incident, lead)
    response = api(READ, WRITE, user=lead).put(url(incident, "clocks/gdpr-art33/notification/"), payload, "json")
    assert (response.status_code, response.json()) == (400, errors)
    assert not DeadlineClock.objects.exists()


def test_a_clock_of_a_regime_not_applying_or_unknown_stage_is_400(api, lead, incident):
    client = api(READ, WRITE, user=lead)
    payload = {"start_event": "awareness", "started_at": "2025-03-28T10:00:00Z", "reason": "x"}
    response = client.put(url(incident, "clocks/nis2/notification/"), payload, "json")
    assert response.status_code == 400
    assert response.json() == {
        "regime": ["Decide that NIS2 Art. 23 — CSIRT / competent authority applies before starting its clock."]
    }
    gdpr_applies(incident, lead)
    response = client.put(url(incident, "clocks/gdpr-art33/filing/"), payload, "json")
    assert response.status_code == 400
    assert response.json() == {
        "stage": ["GDPR Art. 33 — supervisory authority has no clock “filing” (its clocks: notification)."]
    }


def test_setting_a_clock_is_refused_by_the_rule_table(api, lead, responder, members):
    gdpr_applies(members, lead)
    response = api(READ, WRITE, user=responder).put(
        url(members, "clocks/gdpr-art33/notification/"),
        {"start_event": "awareness", "started_at": "2025-03-28T10:00:00Z", "reason": "x"},
        "json",
    )
    assert response.status_code == 403
    assert not DeadlineClock.objects.exists()


def test_a_counsel_may_set_a_clock_without_being_a_member(api, lead, incident):
    cora = UserFactory(username="cora", role=Role.RESPONDER, counsel=True)
    gdpr_applies(incident, lead)
    response = api(READ, WRITE, user=cora).put(
        url(incident, "clocks/gdpr-art33/notification/"),
        {"start_event": "awareness", "started_at": "2025-03-28T10:00:00Z", "reason": "Counsel's call."},
        "json",
    )
    assert (response.status_code, response.json()["started_by"]) == (200, "cora")


# --- Notices --------------------------------------------------------------------------------------
def test_a_notice_from_draft_to_sent(api, lead, responder, members):
    gdpr_applies(members, lead)
    drafter = api(READ, WRITE, user=responder)
    approver = api(READ, WRITE, user=lead)

    response = drafter.post(url(members, "notices/"), {"regime": "gdpr-art33"}, "json")
    assert response.status_code == 201
    notice = response.json()
    assert (notice["regime"], notice["stage"], notice["status"], notice["version"], notice["privileged"]) == (
        "gdpr-art33",
        "notification",
        "draft",
        1,
        True,
    )
    assert notice["created_by"] == "ravi"
    assert notice["body"].startswith("# Phishing wave against finance\n")
    assert [(v["number"], v["author"]) for v in notice["versions"]] == [(1, "ravi")]
    detail = url(members, f"notices/{notice['id']}/")

    # Revise: version 2. A stale version is a 409 and writes nothing.
    response = drafter.patch(detail, {"body": "# Notice\n\nRevised.", "version": 1}, "json")
    assert (response.status_code, response.json()["version"], response.json()["body"]) == (
        200,
        2,
        "# Notice\n\nRevised.",
    )
    response = drafter.patch(detail, {"body": "Other.", "version": 1}, "json")
    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    assert Notice.objects.get().body == "# Notice\n\nRevised."

    # Approving is the lead's, for the version read.
    assert drafter.post(f"{detail}approve/", {"version": 2}, "json").status_code == 403
    assert approver.post(f"{detail}approve/", {"version": 1}, "json").status_code == 409
    response = approver.post(f"{detail}approve/", {"version": 2}, "json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["approved_by"], response.json()["approved_version"]) == (
        "approved",
        "lena",
        2,
    )

    # Sending: the time needs its offset; then recorded, and no longer privileged.
    send = {"sent_at": "2025-03-30T09:00:00", "channel": "portal", "recipient": "CNIL"}
    response = approver.post(f"{detail}send/", send, "json")
    assert response.status_code == 400 and list(response.json()) == ["sent_at"]
    assert drafter.post(f"{detail}send/", {**send, "sent_at": "2025-03-30T09:00:00Z"}, "json").status_code == 403
    response = approver.post(
        f"{detail}send/", {**send, "sent_at": "2025-03-30T09:00:00Z", "authority_reference": "N-1"}, "json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["privileged"], body["sent_by"], body["recipient"], body["authority_reference"]) == (
        "sent",
        False,
        "lena",
        "CNIL",
        "N-1",
    )
    assert [(v["number"], v["author"]) for v in body["versions"]] == [(1, "ravi"), (2, "ravi")]

    listed = approver.get(url(members, "notices/")).json()
    assert [(n["id"], n["status"], n["privileged"]) for n in listed] == [(notice["id"], "sent", False)]
    assert "body" not in listed[0]


def test_sending_an_unapproved_notice_is_400(api, lead, incident):
    notice = services.notice_draft(incident=incident, regime=gdpr_applies(incident, lead), actor=lead)
    response = api(READ, WRITE, user=lead).post(
        url(incident, f"notices/{notice.pk}/send/"),
        {"sent_at": "2025-03-30T09:00:00Z", "channel": "portal", "recipient": "CNIL"},
        "json",
    )
    assert (response.status_code, response.json()) == (
        400,
        {"status": ["Approve the notice first: only an approved version is sent."]},
    )


def test_drafting_is_refused_to_an_outsider_and_checks_its_fields(api, lead, outsider, incident):
    gdpr_applies(incident, lead)
    response = api(READ, WRITE, user=outsider).post(url(incident, "notices/"), {"regime": "gdpr-art33"}, "json")
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "Only members working this incident or counsel may draft a notice."},
    )
    client = api(READ, WRITE, user=lead)
    response = client.post(url(incident, "notices/"), {"regime": "gdpr-art99"}, "json")
    assert (response.status_code, response.json()) == (400, {"regime": ["Object with slug=gdpr-art99 does not exist."]})
    response = client.post(url(incident, "notices/"), {"regime": "hipaa"}, "json")
    assert response.status_code == 400 and list(response.json()) == ["regime"]
    response = client.post(url(incident, "notices/"), {"regime": "gdpr-art33", "status": "sent"}, "json")
    assert (response.status_code, response.json()) == (400, {"status": ["This field is read-only."]})
    assert not Notice.objects.exists()


@pytest.mark.parametrize(
    ("fmt", "content_type", "starts"),
    [
        ("md", "text/markdown; charset=utf-8", b"# GDPR Art. 33"),
        ("html", "text/html; charset=utf-8", b"<!doctype html>"),
        ("pdf", "application/pdf", b"%PDF-"),
    ],
)
def test_export_a_notice(api, lead, incident, fmt, content_type, starts):
    notice = services.notice_draft(incident=incident, regime=gdpr_applies(incident, lead), actor=lead)
    response = api(READ, user=lead).get(url(incident, f"notices/{notice.pk}/export.{fmt}"))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    filename = f"{incident.reference.lower()}-notice-{notice.pk}-v1.{fmt}"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response.content.startswith(starts)
    if fmt == "md":
        assert b"PRIVILEGED" in response.content.upper()
