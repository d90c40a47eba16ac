"""An alert's observables are candidate indicators on the incident it joined: offered to confirm
on the incident page (the indicators' own confirm step), never exported until confirmed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.models import Role
from incidents import services as incident_services
from incidents.models import Incident, Indicator, MemberRole
from intake import services
from intake.normalizers import NormalizedAlert
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def promoted(db):
    siem = UserFactory(username="api:splunk-prod", role=Role.INTEGRATION)
    alert = NormalizedAlert(
        source_ref="det-1", title="Beacon to C2 from wks-7", severity="critical", host="wks-7",
        observed_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        observables=[("ip", "45.137.21[.]9"), ("ip", "10.8.0.14"), ("domain", "c2-relay.example")],
    )  # fmt: skip
    services.alerts_ingest(received=[services.Received(alert=alert, raw={})], source="splunk-prod",
                           format="generic", sender=siem)  # fmt: skip
    return Incident.objects.get()


def url(incident: Incident) -> str:
    return reverse("incidents:indicator-from-alerts", args=[incident.reference])


def test_the_alerts_observables_are_offered_attacker_side_ticked_ours_not(login, admin, promoted):
    response = login(admin).get(url(promoted), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    rows = re.findall(r'<tr class="candidate( ours)?">.*?name="pick" value="([^"]+)" id="[^"]+"( checked)?', body, re.S)
    assert rows == [
        ("", "ip:45.137.21.9", " checked"),
        (" ours", "ip:10.8.0.14", ""),
        ("", "domain:c2-relay.example", " checked"),
    ]


def test_only_what_is_confirmed_becomes_an_indicator_and_is_exported(login, admin, promoted):
    client = login(admin)
    assert Indicator.objects.count() == 0
    export = client.get(reverse("incidents:indicator-export", args=[promoted.reference, "csv"]))
    assert "45.137.21.9" not in export.content.decode()
    confirmed = client.post(
        reverse("incidents:indicator-confirm", args=[promoted.reference]),
        {"pick": ["ip:45.137.21.9"], "tlp": "amber", "source": "SIEM alerts"},
        **HTMX,
    )
    assert confirmed.status_code == 200
    assert list(Indicator.objects.values_list("type", "value", "role", "source")) == [
        ("ip", "45.137.21.9", "attacker", "SIEM alerts")
    ]
    export = client.get(reverse("incidents:indicator-export", args=[promoted.reference, "csv"])).content.decode()
    assert "45.137.21.9" in export and "c2-relay.example" not in export and "10.8.0.14" not in export


def test_already_recorded_values_are_marked(login, admin, promoted):
    from incidents.indicators import services as indicator_services

    indicator_services.indicator_add(incident=promoted, actor=admin, type="domain", value="c2-relay.example")
    body = login(admin).get(url(promoted), **HTMX).content.decode()
    assert body.count("already recorded") == 1


def test_vendor_collaborators_never_see_alerts_and_readers_cannot_confirm(login, admin, vendor, executive, promoted):
    incident_services.member_add(incident=promoted, user=vendor, actor=admin, role=MemberRole.RESPONDER)
    assert login(vendor).get(url(promoted), **HTMX).status_code == 404
    assert login(executive).get(url(promoted), **HTMX).status_code == 403
    page = login(vendor).get(promoted.get_absolute_url()).content.decode()
    assert "Indicators from alerts" not in page


def test_an_incident_without_alerts_says_so(login, admin, incident):
    body = login(admin).get(url(incident), **HTMX).content.decode()
    assert "No alert that joined this incident carried an indicator." in body
