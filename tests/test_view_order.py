"""The order every browser write view answers in: signed out → login; incident (or its child)
not visible → 404; the rule table refuses → 403 (before the body is looked at, so an empty form
from someone who may not act is a 403, not a form error); only then the form's errors. And the
read pages answer 405 to methods they do not handle instead of rendering as for a GET.

A handful of routes per mechanism: ``incidents.views._visible_or_404(needs=…)`` (and its child
lookups ``_task_or_404``, ``vendors.views._involvement_or_404``, ``evidence.views._evidence_or_404``,
``regulatory.views._incident`` / ``_notice``, ``timeline.views._visible_or_404``), and the
``require_safe`` / ``require_http_methods`` decorators. The full grid is the authorization matrix
(tests/test_authorization_matrix.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts import invitations
from accounts.models import Role
from incidents import services
from incidents.evidence import services as evidence_services
from incidents.models import (
    Applicability,
    CustodyEvent,
    Finding,
    Incident,
    Indicator,
    LegalHold,
    MemberRole,
    Membership,
    Regime,
    RegulatoryAssessment,
    Status,
    TaskNote,
    VendorAccess,
    VendorInvolvement,
    VendorRole,
)
from incidents.regulatory import services as regulatory_services
from incidents.vendors import services as vendor_services
from timeline.models import TimelineEvent

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def northwind(admin):
    return vendor_services.vendor_create(actor=admin, name="Northwind MSP", tier="critical")


@pytest.fixture
def entry(lead, incident, northwind):
    """Northwind, the incident's entry point, with one active VPN account on its checklist."""
    involvement = vendor_services.involvement_add(
        incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT
    )
    vendor_services.access_add(
        involvement=involvement, actor=lead, kind="vpn_account", system="vpn.corp", identifier="nw-ops"
    )
    return involvement


@pytest.fixture
def counsel(db):
    return UserFactory(username="cora", role=Role.RESPONDER, counsel=True)


# --- Refused before the body is read: 403 for an empty form, and nothing written ----------------
# (route name, who is refused, what may not change). "outsider" is a responder on no incident: a
# writer on this unrestricted one (contributes, but may not edit, move, manage or transfer).
REFUSED_EMPTY = [
    ("incidents:finding-add", "executive"),
    ("incidents:task-add", "executive"),
    ("incidents:transition", "executive"),
    ("incidents:reopen", "executive"),
    ("incidents:edit", "executive"),
    ("incidents:close", "outsider"),
    ("incidents:member-add", "outsider"),
    ("incidents:legal-hold", "outsider"),
    ("incidents:evidence-text", "executive"),
    ("incidents:indicator-add", "executive"),
    ("incidents:indicator-confirm", "executive"),
    ("incidents:vendor-add", "outsider"),
    ("incidents:scope-add", "outsider"),
    ("timeline:add", "executive"),
    ("notifications:acknowledge", "executive"),
]


def _rows(incident) -> tuple[int, ...]:
    """What a write to a case would add to: findings, tasks, members, holds, evidence, indicators,
    vendors' involvements, timeline events."""
    return (
        Finding.objects.count(),
        incident.tasks.count(),
        Membership.objects.count(),
        LegalHold.objects.count(),
        incident.evidence.count(),
        Indicator.objects.count(),
        VendorInvolvement.objects.count(),
        TimelineEvent.objects.count(),
    )


@pytest.mark.parametrize(("route", "persona"), REFUSED_EMPTY)
def test_a_refused_person_posting_an_empty_form_gets_403_and_nothing_changes(request, login, incident, route, persona):
    person = request.getfixturevalue(persona)
    before = _rows(incident)
    response = login(person).post(reverse(route, args=[incident.reference]), {})
    assert response.status_code == 403
    assert _rows(incident) == before
    current = Incident.objects.get(pk=incident.pk)
    assert (current.status, current.version, current.acknowledged_at) == (Status.NEW, 1, None)


@pytest.mark.parametrize("route", ["incidents:edit", "incidents:close", "incidents:contain"])
def test_opening_a_form_one_may_not_send_is_403_not_a_redirect(login, executive, incident, route):
    assert login(executive).get(reverse(route, args=[incident.reference])).status_code == 403


@pytest.mark.parametrize("persona", ["executive", "vendor"])
def test_who_may_not_open_incidents_gets_403_on_the_form_and_its_post(request, login, persona):
    client = login(request.getfixturevalue(persona))
    assert client.get(reverse("incidents:create")).status_code == 403
    assert client.post(reverse("incidents:create"), {}).status_code == 403
    assert Incident.objects.count() == 0


def test_a_child_object_refused_by_the_rule_is_403(login, lead, executive, outsider, incident, entry):
    """Task notes (``_task_or_404``), vendor access items (``_involvement_or_404``), evidence
    transfers (``_evidence_or_404``): the child exists and is visible, the rule refuses."""
    task = services.task_add(incident=incident, actor=lead, title="Rotate tokens")
    evidence = evidence_services.evidence_text_add(incident=incident, actor=lead, name="auth.log", text="Accepted")
    custody = CustodyEvent.objects.count()
    ref = incident.reference
    assert login(executive).post(reverse("incidents:task-note-add", args=[ref, task.pk]), {}).status_code == 403
    assert login(executive).post(reverse("incidents:task-status", args=[ref, task.pk]), {}).status_code == 403
    outsider_client = login(outsider)
    assert outsider_client.post(reverse("incidents:vendor-access-add", args=[ref, entry.pk]), {}).status_code == 403
    assert outsider_client.post(reverse("incidents:vendor-remove", args=[ref, entry.pk]), {}).status_code == 403
    transfer = reverse("incidents:evidence-transfer", args=[ref, evidence.pk])
    assert outsider_client.post(transfer, {}).status_code == 403
    assert (TaskNote.objects.count(), VendorAccess.objects.count(), CustodyEvent.objects.count()) == (0, 1, custody)
    assert VendorInvolvement.objects.filter(pk=entry.pk).exists()


def test_an_invisible_child_is_still_404_before_the_rule(login, executive, incident):
    url = reverse("incidents:task-note-add", args=[incident.reference, 999999])
    assert login(executive).post(url, {}).status_code == 404


# --- The notification register: counsel through the rule table, others refused -------------------
def test_register_decisions_are_refused_to_a_responder_and_counsel_gets_the_form_errors(
    login, lead, responder, counsel, incident
):
    services.member_add(incident=incident, user=responder, actor=lead)
    url = reverse("incidents:regulatory-decide", args=[incident.reference, "gdpr-art33"])
    assert login(responder).post(url, {}).status_code == 403
    # Counsel is no member and no lead: their standing is a writer's, the counsel permission allows it.
    assert login(counsel).post(url, {}).status_code == 400
    assert RegulatoryAssessment.objects.filter(incident=incident).count() == 0


def test_notice_approval_is_refused_to_a_drafting_responder_with_an_empty_form(login, lead, responder, incident):
    services.member_add(incident=incident, user=responder, actor=lead)
    gdpr = Regime.objects.get(slug="gdpr-art33")
    regulatory_services.assessment_decide(
        incident=incident, regime=gdpr, decision=Applicability.APPLIES, reason="Personal data", actor=lead
    )
    notice = regulatory_services.notice_draft(incident=incident, regime=gdpr, stage="notification", actor=lead)
    approve = reverse("incidents:regulatory-notice-approve", args=[incident.reference, notice.pk])
    assert login(responder).post(approve, {}).status_code == 403
    assert login(lead).post(approve, {}).status_code == 400
    notice.refresh_from_db()
    assert notice.approved_by is None


# --- Allowed: the same empty form gets its errors ------------------------------------------------
def test_an_allowed_person_posting_an_empty_form_gets_its_errors(login, lead, incident):
    client = login(lead)
    ref = incident.reference
    members = Membership.objects.filter(incident=incident).count()
    response = client.post(reverse("incidents:finding-add", args=[ref]), {})
    assert response.status_code == 302
    assert _messages(response) == ["The finding was not saved: This field is required."]
    response = client.post(reverse("incidents:member-add", args=[ref]), {})
    assert response.status_code == 302
    assert _messages(response)[-1] == "This field is required. This field is required."
    assert client.post(reverse("incidents:indicator-add", args=[ref]), {}).status_code == 400
    assert client.post(reverse("timeline:add", args=[ref]), {}).status_code == 400
    # An empty POST to the edit page is a submission, with its errors (not the form as for a GET).
    response = client.post(reverse("incidents:edit", args=[ref]), {})
    assert response.status_code == 200
    assert response.context["form"].errors["title"] == ["This field is required."]
    assert (Finding.objects.count(), Membership.objects.filter(incident=incident).count()) == (0, members)


# --- Methods -------------------------------------------------------------------------------------
READ_PAGES = [
    ("incidents:home", []),
    ("incidents:list", []),
    ("incidents:vendor-list", []),
    ("incidents:vendor-open-access", []),
    ("notifications:inbox", []),
    ("notifications:log", []),
    ("notifications:channels", []),
]
FORM_PAGES = [
    ("incidents:create", []),
    ("incidents:vendor-create", []),
    ("intake:queue", []),
    ("mfa-enrol", []),
    ("mfa-verify", []),
    ("mfa-recovery-codes", []),
]


@pytest.mark.parametrize("method", ["patch", "delete", "put"])
@pytest.mark.parametrize(("route", "args"), READ_PAGES + FORM_PAGES)
def test_methods_a_page_does_not_handle_are_405(login, admin, route, args, method):
    response = getattr(login(admin), method)(reverse(route, args=args))
    assert response.status_code == 405


@pytest.mark.parametrize("method", ["patch", "delete"])
@pytest.mark.parametrize("route", ["incidents:edit", "incidents:close", "incidents:contain", "invite"])
def test_an_incidents_form_pages_answer_405_to_patch_and_delete(login, lead, incident, route, method):
    assert getattr(login(lead), method)(reverse(route, args=[incident.reference])).status_code == 405


@pytest.mark.parametrize("route", ["incidents:list", "incidents:create"])
def test_signed_out_any_method_is_sent_to_log_in_first(client, route):
    assert client.patch(reverse(route)).status_code == 302


def test_the_read_pages_still_answer_get_and_head(login, admin):
    client = login(admin)
    for route in ("incidents:home", "incidents:list", "notifications:inbox"):
        assert client.get(reverse(route)).status_code == 200
        assert client.head(reverse(route)).status_code == 200


def test_a_posted_read_page_is_405(login, admin):
    assert login(admin).post(reverse("incidents:list"), {}).status_code == 405


def test_the_invitation_page_answers_405_to_patch(client, lead, incident):
    _, token = invitations.invitation_create(
        incident=incident,
        email="guest@northwind.example",
        role=MemberRole.RESPONDER,
        access_expires_at=timezone.now() + timedelta(days=7),
        vendor=None,
        actor=lead,
    )
    url = reverse("invitation-accept", args=[token])
    assert client.patch(url).status_code == 405
    assert client.delete(url).status_code == 405


# --- Removing a vendor that still has access items ------------------------------------------------
def test_removing_a_vendor_with_access_items_is_refused_with_a_message_not_a_500(login, lead, incident, entry):
    response = login(lead).post(reverse("incidents:vendor-remove", args=[incident.reference, entry.pk]), {})
    assert response.status_code == 302
    assert _messages(response) == ["Northwind MSP has 1 access item on this incident: it stays."]
    assert VendorInvolvement.objects.filter(pk=entry.pk).exists()


def test_removing_a_vendor_with_access_items_with_htmx_answers_the_panel(login, lead, incident, entry):
    response = login(lead).post(
        reverse("incidents:vendor-remove", args=[incident.reference, entry.pk]), {}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Northwind MSP" in response.content.decode()
    assert VendorInvolvement.objects.filter(pk=entry.pk).exists()
