"""``POST /api/v1/incidents/{reference}/acknowledge/``: success, then 409, 403, 404, scopes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidents.models import Severity
from notifications.models import Acknowledgement, Escalation, EscalationPolicy, EscalationStep
from tests.factories import make_incident


@pytest.fixture
def paged(lead):
    policy = EscalationPolicy.objects.create(name="Critical", severities=["critical"])
    EscalationStep.objects.create(policy=policy, position=1, delay=timedelta(0))
    return make_incident(opened_by=lead, lead=lead, severity=Severity.CRITICAL, title="Vendor token replayed")


def url(incident) -> str:
    return f"/api/v1/incidents/{incident.reference}/acknowledge/"


def test_acknowledging_through_the_api(api, lead, paged):
    client = api("incidents:read", "incidents:write", user=lead)

    response = client.post(url(paged))

    assert response.status_code == 200, response.content
    body = response.json()
    ack = Acknowledgement.objects.get(incident=paged)
    assert body == {
        "incident": paged.reference,
        "user": "lena",
        "channel": "api",
        "at": ack.at.astimezone(ack.at.tzinfo).isoformat().replace("+00:00", "Z"),
        "escalation_stopped": True,
        "acknowledged_at": body["at"],
    }
    assert Escalation.objects.get(incident=paged).stopped_at == ack.at


def test_a_second_acknowledgement_is_a_409_naming_the_first(api, lead, paged):
    client = api("incidents:read", "incidents:write", user=lead)
    client.post(url(paged))

    response = client.post(url(paged))

    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"{paged.reference} was already acknowledged by {lead} at ")
    assert Acknowledgement.objects.filter(incident=paged).count() == 1


def test_an_executive_is_refused_with_403(client, executive, paged):
    client.force_login(executive)

    response = client.post(url(paged), content_type="application/json")

    assert response.status_code == 403
    assert not Acknowledgement.objects.exists()


def test_an_incident_the_caller_may_not_see_is_a_404(api, lead, outsider):
    hidden = make_incident(opened_by=lead, lead=lead, restricted=True)

    response = api("incidents:read", "incidents:write", user=outsider).post(url(hidden))

    assert response.status_code == 404


def test_a_read_only_key_may_not_acknowledge(api, lead, paged):
    response = api("incidents:read", user=lead).post(url(paged))

    assert response.status_code == 403
    assert not Acknowledgement.objects.exists()


def test_a_closed_incident_has_nothing_to_acknowledge(api, lead):
    incident = make_incident(opened_by=lead, lead=lead)
    from incidents import services

    services.incident_close(incident=incident, actor=lead, resolution="false_positive")

    response = api("incidents:read", "incidents:write", user=lead).post(url(incident))

    # Closing from new acknowledged it already: nothing left to stop.
    assert response.status_code == 409
