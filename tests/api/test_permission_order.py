"""Every API write answers in the same order (incidents.api.RuleFirstMixin): not signed in → 401,
an API key without the write scope → 403 (the scope's message), what the URL names and the
caller may not see → 404, the rule table refuses → 403 (the table's message), and only then is
the body read: 400 with field messages, 415 for a content type the view does not parse.

Each endpoint is sent an empty or malformed body twice: by someone the rule refuses (403, and
nothing is written) and by someone it allows (400 naming the fields, and nothing is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role, User
from incidents import services
from incidents.evidence import services as evidence_services
from incidents.indicators import services as indicator_services
from incidents.models import Incident, MemberRole, Regime, Task, VendorRole
from incidents.regulatory import services as regulatory_services
from incidents.vendors import scope as scope_services
from incidents.vendors import services as vendor_services
from tests.factories import UserFactory, make_incident
from timeline import services as timeline_services

pytestmark = pytest.mark.django_db

# The rule table's messages (incidents/permissions.py REFUSALS), written out.
MAY_NOT_ADD = "You may not add to this incident."
MAY_NOT_EDIT = "Only members working this incident (its lead and responders) may change it."
MAY_NOT_MOVE = "Only members working this incident (its lead and responders) may change its status."
MAY_NOT_TRANSFER = "Only members working this incident (its lead and responders) may transfer evidence."
MAY_NOT_HOLD = "Only the incident's lead or an admin may place or release a legal hold."
MAY_NOT_VENDORS = "Only members working this incident (its lead and responders) may change its vendors."
MAY_NOT_ANSWER = "Only the vendor's collaborator or members working this incident may answer."
MAY_NOT_TICK = "You may not change tasks on this incident."
MAY_NOT_DECIDE = "Only the incident's lead, an admin or counsel may decide on notification duties."
MAY_NOT_DRAFT = "Only members working this incident or counsel may draft a notice."
MAY_NOT_APPROVE = "Only the incident's lead, an admin or counsel may approve a notice."
MAY_NOT_SEND = "Only the incident's lead, an admin or counsel may record a notice as sent."
MAY_NOT_OPEN = "Your role may not open incidents."
MAY_NOT_REGISTRY = "Only admins and incident leads may change the vendor registry."
REQUIRED = ["This field is required."]


@dataclass
class Case:
    incident: Incident
    ids: dict[str, int]

    def url(self, tail: str) -> str:
        return tail.format(ref=self.incident.reference, **self.ids)


@pytest.fixture
def case(lead, responder, executive, builtin_rows) -> Case:
    """One unrestricted incident led by lena holding one of each kind of content; ravi works it
    (a responder member), erin (an executive) reads it."""
    incident = make_incident(opened_by=lead, lead=lead, title="Token theft at the CI runner")
    services.member_add(incident=incident, user=responder, actor=lead)
    services.member_add(incident=incident, user=executive, actor=lead, role=MemberRole.OBSERVER)
    task = services.task_add(incident=incident, actor=lead, title="Rotate the runner tokens")
    evidence = evidence_services.evidence_text_add(
        incident=incident, actor=lead, name="runner.log", text="token used from 203.0.113.9", internal=False
    )
    indicator = indicator_services.indicator_add(incident=incident, actor=lead, type="ip", value="203.0.113.9")
    northwind = vendor_services.vendor_create(actor=lead, name="Northwind MSP", tier="critical")
    involvement = vendor_services.involvement_add(
        incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT
    )
    access = vendor_services.access_add(
        involvement=involvement, actor=lead, kind="vpn_account", system="vpn.corp", identifier="nw-ops"
    )
    question = vendor_services.question_ask(
        involvement=involvement, actor=lead, question="Which accounts?", due_at=timezone.now() + timedelta(days=1)
    )
    scope = scope_services.scope_add(incident=incident, actor=lead, kind="system", name="ci-runner")
    event = timeline_services.event_add(
        incident=incident, actor=lead, kind="attacker", title="Token used", occurred_at=timezone.now()
    )
    gdpr = Regime.objects.get(slug="gdpr-art33")
    regulatory_services.assessment_decide(
        incident=incident, regime=gdpr, decision="applies", reason="Personal data.", actor=lead
    )
    notice = regulatory_services.notice_draft(incident=incident, regime=gdpr, stage="notification", actor=lead)
    return Case(
        incident=incident,
        ids={
            "task": task.pk,
            "evidence": evidence.pk,
            "indicator": indicator.pk,
            "vendor": northwind.pk,
            "involvement": involvement.pk,
            "access": access.pk,
            "question": question.pk,
            "scope": scope.pk,
            "event": event.pk,
            "notice": notice.pk,
        },
    )


def signed_in(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def written() -> dict[str, int]:
    """How many rows every table of the case's apps holds, and every incident's version: a write
    the API refused or could not parse leaves all of them as they were."""
    counts = {
        model._meta.label: model.objects.count()
        for label in ("incidents", "timeline", "notifications")
        for model in apps.get_app_config(label).get_models()
    }
    counts.update({f"version:{ref}": version for ref, version in Incident.objects.values_list("reference", "version")})
    return counts


P = "/api/v1/incidents/{ref}/"
V = P + "vendors/{involvement}/"
# (method, URL, body, who the rule refuses, their 403 message, who it allows, the fields their 400 names)
WRITES = [
    ("patch", P, {}, "executive", MAY_NOT_EDIT, "lead", {"version": REQUIRED}),
    ("patch", P, {"severity": "catastrophic"}, "executive", MAY_NOT_EDIT, "lead", {"severity"}),
    ("post", P + "transition/", {}, "executive", MAY_NOT_MOVE, "responder", {"to": REQUIRED}),
    ("post", P + "close/", {}, "executive", MAY_NOT_MOVE, "lead", {"resolution": REQUIRED}),
    ("post", P + "reopen/", {}, "executive", MAY_NOT_MOVE, "lead", {"reason": REQUIRED}),
    ("post", P + "findings/", {}, "executive", MAY_NOT_ADD, "responder", {"body": REQUIRED}),
    ("post", P + "tasks/", {}, "executive", MAY_NOT_ADD, "responder", {"title": REQUIRED}),
    ("patch", P + "tasks/{task}/", {"status": "nope"}, "executive", MAY_NOT_TICK, "lead", {"status"}),
    ("post", P + "tasks/{task}/notes/", {}, "executive", MAY_NOT_ADD, "responder", {"body": REQUIRED}),
    ("post", P + "evidence/text/", {}, "executive", MAY_NOT_ADD, "responder", {"name": REQUIRED, "text": REQUIRED}),
    ("post", P + "evidence/{evidence}/transfer/", {}, "executive", MAY_NOT_TRANSFER, "lead", {"recipient", "reason"}),
    ("post", P + "legal-hold/", {}, "responder", MAY_NOT_HOLD, "lead", {"active": REQUIRED, "reason": REQUIRED}),
    ("post", P + "indicators/", {}, "executive", MAY_NOT_ADD, "responder", {"type": REQUIRED, "value": REQUIRED}),
    ("post", P + "indicators/bulk/", {}, "executive", MAY_NOT_ADD, "responder", {"indicators": REQUIRED}),
    ("patch", P + "indicators/{indicator}/", {"confidence": 900}, "executive", MAY_NOT_ADD, "lead", {"confidence"}),
    ("post", P + "timeline/", {}, "executive", MAY_NOT_ADD, "responder", {"kind", "title", "occurred_at"}),
    ("post", P + "timeline/", [], "executive", MAY_NOT_ADD, "responder", {"non_field_errors"}),
    ("patch", P + "timeline/{event}/", {"kind": "nope"}, "executive", MAY_NOT_ADD, "lead", {"kind"}),
    ("post", P + "vendors/", {}, "executive", MAY_NOT_VENDORS, "responder", {"vendor": REQUIRED}),
    ("patch", V, {"role": "nope"}, "executive", MAY_NOT_VENDORS, "lead", {"role"}),
    ("post", V + "access/", {}, "executive", MAY_NOT_VENDORS, "responder", {"kind", "system", "identifier"}),
    ("post", V + "access/{access}/step/", {}, "executive", MAY_NOT_VENDORS, "lead", {"to": REQUIRED}),
    ("post", V + "questions/", {}, "executive", MAY_NOT_VENDORS, "lead", {"question", "due_at"}),
    ("post", V + "questions/{question}/answer/", {}, "executive", MAY_NOT_ANSWER, "responder", {"answer": REQUIRED}),
    ("post", P + "scope/", {}, "executive", MAY_NOT_EDIT, "responder", {"kind": REQUIRED, "name": REQUIRED}),
    ("put", P + "register/nis2/", {}, "responder", MAY_NOT_DECIDE, "lead", {"decision": REQUIRED}),
    ("put", P + "clocks/gdpr-art33/notification/", {}, "responder", MAY_NOT_DECIDE, "lead", {"start_event"}),
    ("post", P + "notices/", {}, "executive", MAY_NOT_DRAFT, "responder", {"regime": REQUIRED}),
    ("patch", P + "notices/{notice}/", {}, "executive", MAY_NOT_DRAFT, "responder", {"body", "version"}),
    ("post", P + "notices/{notice}/approve/", {}, "responder", MAY_NOT_APPROVE, "lead", {"version": REQUIRED}),
    ("post", P + "notices/{notice}/send/", {}, "responder", MAY_NOT_SEND, "lead", {"sent_at", "channel"}),
    ("post", "/api/v1/incidents/", {}, "executive", MAY_NOT_OPEN, "responder", {"title": REQUIRED}),
    ("post", "/api/v1/vendors/", {}, "responder", MAY_NOT_REGISTRY, "lead", {"name": REQUIRED}),
    ("patch", "/api/v1/vendors/{vendor}/", {"tier": "nope"}, "responder", MAY_NOT_REGISTRY, "lead", {"tier"}),
    ("post", "/api/v1/vendors/{vendor}/known-access/", {}, "executive", MAY_NOT_REGISTRY, "lead", {"kind", "system"}),
]  # fmt: skip


def _id(write) -> str:
    method, url, body = write[:3]
    return f"{method.upper()} {url.removeprefix(P).removeprefix('/api/v1/') or '{ref}'} {body!r}"


@pytest.mark.parametrize("write", WRITES, ids=[_id(w) for w in WRITES])
def test_the_rule_refuses_before_the_body_is_read(request, case, write):
    method, url, body, refused, message, allowed, fields = write
    before = written()

    response = getattr(signed_in(request.getfixturevalue(refused)), method)(case.url(url), body, format="json")
    assert (response.status_code, response.json()) == (403, {"detail": message})
    assert written() == before

    response = getattr(signed_in(request.getfixturevalue(allowed)), method)(case.url(url), body, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()
    if isinstance(fields, dict):
        assert {name: errors.get(name) for name in fields} == fields
    else:
        assert fields <= set(errors), errors
    assert written() == before


# Writes without a body at all: the rule is all there is to check before the service.
BODILESS = [
    ("delete", V, MAY_NOT_VENDORS),
    ("post", V + "access/fill/", MAY_NOT_VENDORS),
    ("delete", P + "scope/{scope}/", MAY_NOT_EDIT),
    ("post", P + "acknowledge/", "Only responders and incident leads who may work this incident may acknowledge it."),
]


@pytest.mark.parametrize(("method", "url", "message"), BODILESS, ids=[f"{m.upper()} {u}" for m, u, _ in BODILESS])
def test_a_bodiless_write_is_refused(case, executive, method, url, message):
    before = written()
    response = getattr(signed_in(executive), method)(case.url(url))
    assert (response.status_code, response.json()) == (403, {"detail": message})
    assert written() == before


def test_an_upload_is_refused_whatever_its_content_type(case, executive, responder):
    url = case.url(P + "evidence/")
    before = written()
    bodies = (
        {"data": {}, "format": "multipart"},
        {"data": {}, "format": "json"},
        {"data": b"x" * 64, "content_type": "application/octet-stream"},
    )
    for client_kwargs in bodies:
        response = signed_in(executive).post(url, **client_kwargs)
        assert (response.status_code, response.json()) == (403, {"detail": MAY_NOT_ADD})
    # Allowed: the body is read, so its content type and fields count.
    assert signed_in(responder).post(url, {}, format="json").status_code == 415
    response = signed_in(responder).post(url, {}, format="multipart")
    assert (response.status_code, response.json()) == (400, {"file": REQUIRED})
    assert written() == before


def test_a_key_the_rule_refuses_gets_403_not_400(case, api):
    """An integration's key with incidents:write is a writer on an unrestricted incident: it may
    add, not manage vendors nor change the incident."""
    integration = UserFactory(username="soar", role=Role.INTEGRATION)
    client = api("incidents:read", "incidents:write", user=integration)
    before = written()
    response = client.post(case.url(P + "vendors/"), {}, format="json")
    assert (response.status_code, response.json()) == (403, {"detail": MAY_NOT_VENDORS})
    response = client.patch(case.url(P), {}, format="json")
    assert (response.status_code, response.json()) == (403, {"detail": MAY_NOT_EDIT})
    response = client.post(case.url(P + "findings/"), {}, format="json")
    assert (response.status_code, response.json()) == (400, {"body": REQUIRED})
    assert written() == before


def test_a_missing_scope_still_answers_first(case, api, executive):
    """A key without incidents:write is refused for its scope, whoever its user is and whatever the rule says."""
    response = api("incidents:read", user=executive).post(case.url(P + "findings/"), {}, format="json")
    assert (response.status_code, response.json()) == (
        403,
        {"detail": "This API key lacks the 'incidents:write' scope."},
    )


def test_anonymous_is_401_before_anything(case):
    response = APIClient().post(case.url(P + "findings/"), {}, format="json")
    assert response.status_code == 401


def test_what_the_caller_may_not_see_is_404_before_the_rule(
    case, lead, executive, outsider, restricted_incident, vendor
):
    # An incident they may not see: 404, even though the rule would refuse them too.
    response = signed_in(outsider).post(
        f"/api/v1/incidents/{restricted_incident.reference}/findings/", {}, format="json"
    )
    assert response.status_code == 404
    # A child that does not exist: 404 for a caller the rule refuses.
    client = signed_in(executive)
    assert client.patch(case.url(P + "tasks/999999/"), {}, format="json").status_code == 404
    assert client.post(case.url(P + "vendors/999999/access/"), {}, format="json").status_code == 404
    assert client.post(case.url(P + "notices/999999/approve/"), {}, format="json").status_code == 404
    assert client.put(case.url(P + "register/gdpr-art99/"), {}, format="json").status_code == 404
    assert signed_in(outsider).post("/api/v1/vendors/999999/known-access/", {}, format="json").status_code == 404
    # A vendor collaborator: the registry does not exist for them (404, not the editors' 403).
    assert signed_in(vendor).post("/api/v1/vendors/", {}, format="json").status_code == 404


def test_an_allowed_write_still_goes_through(case, responder):
    """The check up front refuses nothing the table allows: the same bodies, filled in, are written."""
    client = signed_in(responder)
    response = client.post(case.url(P + "findings/"), {"body": "Runner token reused."}, format="json")
    assert response.status_code == 201
    response = client.patch(case.url(P + "tasks/{task}/"), {"status": "in_progress"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "in_progress")
    assert Task.objects.get(pk=case.ids["task"]).status == "in_progress"


def test_a_write_without_a_row_is_a_configuration_error(monkeypatch, lead: User) -> None:
    """A viewset's write with no ``required_actions`` entry would be refused only once its body
    is read: it fails loudly instead (a new endpoint cannot forget its rule)."""
    from django.core.exceptions import ImproperlyConfigured

    from incidents.api import FindingViewSet

    incident = make_incident(opened_by=lead, lead=lead)
    monkeypatch.setattr(FindingViewSet, "required_actions", {})
    client = APIClient()
    client.force_authenticate(lead)
    with pytest.raises(ImproperlyConfigured, match=r"FindingViewSet\.required_actions has no entry for 'create'"):
        client.post(f"/api/v1/incidents/{incident.reference}/findings/", {}, format="json")
