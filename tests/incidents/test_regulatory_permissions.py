"""Who may work the notification register: the ``decide_regulatory``, ``draft_notice``,
``approve_notice`` and ``record_notice_sent`` rows of the rule table, counsel included, written out
here and proven cell by cell through the services (``incidents.regulatory.services``).

Personas on one unrestricted incident led by lena:

=======  =================================================================  ======  =====  =======  ====
persona  who                                                                decide  draft  approve  sent
=======  =================================================================  ======  =====  =======  ====
ada      admin (superuser), not a member                                    yes     yes    yes      yes
lena     the incident's lead                                                yes     yes    yes      yes
ravi     responder, responder member                                        no      yes    no       no
cora     responder with the counsel permission, not a member                yes     yes    yes      yes
erin     executive, observer member                                         no      no     no       no
victor   vendor collaborator, responder member                              no      no     no       no
vince    vendor collaborator with the counsel flag set, responder member    no      no     no       no
otto     responder, not a member (the "writer" standing)                    no      no     no       no
=======  =================================================================  ======  =====  =======  ====
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import Role, User
from incidents import services as case_services
from incidents.models import (
    Activity,
    DeadlineClock,
    Incident,
    MemberRole,
    Notice,
    NoticeVersion,
    Regime,
    RegulatoryAssessment,
)
from incidents.permissions import case_permissions
from incidents.regulatory import services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DECIDE, DRAFT, APPROVE, SENT = "decide_regulatory", "draft_notice", "approve_notice", "record_notice_sent"

MAY: dict[str, dict[str, bool]] = {
    "ada": {DECIDE: True, DRAFT: True, APPROVE: True, SENT: True},
    "lena": {DECIDE: True, DRAFT: True, APPROVE: True, SENT: True},
    "ravi": {DECIDE: False, DRAFT: True, APPROVE: False, SENT: False},
    "cora": {DECIDE: True, DRAFT: True, APPROVE: True, SENT: True},
    "erin": {DECIDE: False, DRAFT: False, APPROVE: False, SENT: False},
    "victor": {DECIDE: False, DRAFT: False, APPROVE: False, SENT: False},
    "vince": {DECIDE: False, DRAFT: False, APPROVE: False, SENT: False},
    "otto": {DECIDE: False, DRAFT: False, APPROVE: False, SENT: False},
}

REFUSED = {
    DECIDE: "Only the incident's lead, an admin or counsel may decide on notification duties.",
    DRAFT: "Only members working this incident or counsel may draft a notice.",
    APPROVE: "Only the incident's lead, an admin or counsel may approve a notice.",
    SENT: "Only the incident's lead, an admin or counsel may record a notice as sent.",
}


@pytest.fixture
def people(admin, lead, responder, executive, vendor, outsider, incident) -> dict[str, User]:
    cora = UserFactory(username="cora", role=Role.RESPONDER, counsel=True)
    vince = UserFactory(username="vince", role=Role.VENDOR, counsel=True)
    case_services.member_add(incident=incident, user=responder, actor=lead)
    case_services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)
    case_services.member_add(incident=incident, user=vince, actor=lead, role=MemberRole.RESPONDER)
    case_services.member_add(incident=incident, user=executive, actor=lead, role=MemberRole.OBSERVER)
    return {
        "ada": admin, "lena": lead, "ravi": responder, "cora": cora, "erin": executive, "victor": vendor,
        "vince": vince, "otto": outsider,
    }  # fmt: skip


def gdpr() -> Regime:
    return Regime.objects.get(slug="gdpr-art33")


def register_state(incident: Incident) -> dict[str, Any]:
    """Everything a register write could touch."""
    return {
        "assessments": list(RegulatoryAssessment.objects.filter(incident=incident).values()),
        "clocks": list(DeadlineClock.objects.filter(incident=incident).values()),
        "notices": list(Notice.objects.filter(incident=incident).values()),
        "versions": list(NoticeVersion.objects.filter(notice__incident=incident).values()),
        "activity": list(Activity.objects.filter(incident=incident).values_list("id", flat=True)),
    }


def check(incident: Incident, persona: str, action: str, call) -> Any:
    """Run ``call``: allowed → its result; refused → PermissionDenied with the rule's message,
    nothing written."""
    if MAY[persona][action]:
        return call()
    before = register_state(incident)
    with pytest.raises(PermissionDenied) as refused:
        call()
    assert str(refused.value) == REFUSED[action]
    assert register_state(incident) == before
    return None


def _applies(incident: Incident, lead: User) -> None:
    services.assessment_decide(incident=incident, regime=gdpr(), decision="applies", reason="PII.", actor=lead)


def test_the_table_covers_every_persona_and_the_four_actions():
    assert all(set(row) == {DECIDE, DRAFT, APPROVE, SENT} for row in MAY.values())
    assert set(REFUSED) == {DECIDE, DRAFT, APPROVE, SENT}


@pytest.mark.parametrize("persona", MAY)
def test_case_permissions_offer_the_row(people, incident, persona):
    can = case_permissions(people[persona], incident)
    assert {action: can[action] for action in (DECIDE, DRAFT, APPROVE, SENT)} == MAY[persona]


@pytest.mark.parametrize("persona", MAY)
def test_decide_regulatory_a_decision(people, incident, persona):
    actor = people[persona]
    assessment = check(
        incident,
        persona,
        DECIDE,
        lambda: services.assessment_decide(
            incident=incident, regime=gdpr(), decision="does_not_apply", reason="No personal data.", actor=actor
        ),
    )
    if assessment is not None:
        assert (assessment.decision, assessment.decided_by.username) == ("does_not_apply", persona)


@pytest.mark.parametrize("persona", MAY)
def test_decide_regulatory_a_clock(people, incident, persona):
    actor = people[persona]
    _applies(incident, people["lena"])
    clock = check(
        incident,
        persona,
        DECIDE,
        lambda: services.clock_set(
            incident=incident,
            regime=gdpr(),
            stage="notification",
            start_event="awareness",
            started_at=timezone.now() - timedelta(hours=2),
            reason="SOC ticket 4411.",
            actor=actor,
        ),
    )
    if clock is not None:
        assert clock.started_by.username == persona


@pytest.mark.parametrize("persona", MAY)
def test_draft_notice_draft_and_revise(people, incident, persona):
    actor = people[persona]
    _applies(incident, people["lena"])
    notice = check(
        incident, persona, DRAFT, lambda: services.notice_draft(incident=incident, regime=gdpr(), actor=actor)
    )
    if notice is not None:
        assert notice.created_by.username == persona
    else:
        notice = services.notice_draft(incident=incident, regime=gdpr(), actor=people["lena"])
    revised = check(
        incident,
        persona,
        DRAFT,
        lambda: services.notice_revise(notice=notice, body="# Notice\n\nNew text.", actor=actor, version=1),
    )
    if revised is not None:
        assert revised.version == 2


@pytest.mark.parametrize("persona", MAY)
def test_approve_notice(people, incident, persona):
    actor = people[persona]
    _applies(incident, people["lena"])
    notice = services.notice_draft(incident=incident, regime=gdpr(), actor=people["ravi"])
    approved = check(incident, persona, APPROVE, lambda: services.notice_approve(notice=notice, actor=actor, version=1))
    if approved is not None:
        assert (approved.status, approved.approved_by.username) == ("approved", persona)


@pytest.mark.parametrize("persona", MAY)
def test_record_notice_sent(people, incident, persona):
    actor = people[persona]
    _applies(incident, people["lena"])
    notice = services.notice_draft(incident=incident, regime=gdpr(), actor=people["lena"])
    notice = services.notice_approve(notice=notice, actor=people["lena"], version=1)
    sent = check(
        incident,
        persona,
        SENT,
        lambda: services.notice_send(
            notice=notice, actor=actor, sent_at=timezone.now(), channel="portal", recipient="CNIL"
        ),
    )
    if sent is not None:
        assert (sent.status, sent.sent_by.username) == ("sent", persona)
