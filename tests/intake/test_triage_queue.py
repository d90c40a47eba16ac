"""The queue's reads (intake.selectors): filters, counts, order, and what a restricted incident
lets a viewer know."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.models import Role, User
from incidents.models import Incident
from intake import services as intake_services
from intake.models import Alert
from intake.normalizers import NormalizedAlert
from intake.selectors import alert_counts, alert_get, alert_queue
from intake.triage import alerts_ignore, alerts_link, alerts_promote

from ..factories import UserFactory

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


@pytest.fixture
def siem(db) -> User:
    return UserFactory(username="splunk-prod", role=Role.INTEGRATION)


def ingest(sender: User, *alerts: NormalizedAlert, source: str = "siem") -> list[Alert]:
    received = [intake_services.Received(alert=alert, raw={"id": alert.source_ref}) for alert in alerts]
    results = intake_services.alerts_ingest(received=received, source=source, format="generic", sender=sender)
    return [result.alert for result in results]


def normalized(ref: str, **fields) -> NormalizedAlert:
    fields.setdefault("title", f"Alert {ref}")
    fields.setdefault("severity", "low")
    fields.setdefault("observed_at", T0)
    return NormalizedAlert(source_ref=ref, **fields)


@pytest.fixture
def queue(siem: User) -> None:
    """Five new alerts from two sources, received in this order (so last seen: E newest)."""
    ingest(
        siem, normalized("EV-100", title="Brute force on VPN", rule="VPN brute force", host="vpn-1"), source="splunk"
    )
    ingest(siem, normalized("EV-200", title="Malware on laptop", severity="medium", host="LT-0042"), source="splunk")
    ingest(
        siem, normalized("4711", title="Suspicious PowerShell", rule="PS encoded", user="svc-backup"), source="elastic"
    )
    ingest(siem, normalized("4712", title="DNS tunnel", severity="info", host="dns-2"), source="elastic")
    ingest(siem, normalized("EV-300", title="Login from Tor", user="a.smith"), source="splunk")  # fmt: skip


def refs(queryset) -> list[str]:
    return [alert.source_ref for alert in queryset]


@pytest.mark.django_db
def test_the_queue_shows_new_alerts_last_seen_first(responder: User, siem: User, queue) -> None:
    assert refs(alert_queue(viewer=responder, filters={})) == ["EV-300", "4712", "4711", "EV-200", "EV-100"]
    # A repeat of the oldest moves it to the top: the queue is about what is still happening.
    ingest(
        siem, normalized("EV-100", title="Brute force on VPN", rule="VPN brute force", host="vpn-1"), source="splunk"
    )
    assert refs(alert_queue(viewer=responder, filters=None)) == ["EV-100", "EV-300", "4712", "4711", "EV-200"]
    assert alert_queue(viewer=responder, filters={}).first().occurrences == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"source": "elastic"}, ["4712", "4711"]),
        ({"source": "elast"}, []),  # a source is named exactly
        ({"severity": ["medium", "info"]}, ["4712", "EV-200"]),
        ({"severity": "medium"}, ["EV-200"]),
        ({"severity": ["bogus"]}, ["EV-300", "4712", "4711", "EV-200", "EV-100"]),  # unknown: left out
        ({"q": "vpn"}, ["EV-100"]),  # title and rule and host, any case
        ({"q": "lt-00"}, ["EV-200"]),  # host
        ({"q": "SVC-BACKUP"}, ["4711"]),  # account
        ({"q": "powershell"}, ["4711"]),
        ({"q": "EV-200"}, ["EV-200"]),  # the source's id, exactly…
        ({"q": "EV-2"}, []),  # …not a part of it
        ({"q": "4712", "source": "splunk"}, []),  # filters combine
        ({"status": "ignored"}, []),
        ({"status": "whatever"}, ["EV-300", "4712", "4711", "EV-200", "EV-100"]),  # unknown: new
    ],
)
def test_the_queue_filters(responder: User, queue, filters: dict, expected: list[str]) -> None:
    assert refs(alert_queue(viewer=responder, filters=filters)) == expected


@pytest.mark.django_db
def test_each_status_has_its_own_tab(responder: User, incident: Incident, queue) -> None:
    by_ref = {a.source_ref: a for a in Alert.objects.all()}
    alerts_ignore(alerts=[by_ref["4712"]], actor=responder, reason="DNS team test")
    alerts_link(alerts=[by_ref["EV-100"], by_ref["EV-300"]], incident=incident, actor=responder)
    alerts_promote(alerts=[by_ref["4711"]], actor=responder)
    assert refs(alert_queue(viewer=responder, filters={"status": "new"})) == ["EV-200"]
    assert refs(alert_queue(viewer=responder, filters={"status": "linked"})) == ["EV-300", "EV-100"]
    assert refs(alert_queue(viewer=responder, filters={"status": "promoted"})) == ["4711"]
    assert refs(alert_queue(viewer=responder, filters={"status": "ignored"})) == ["4712"]


@pytest.mark.django_db
def test_counts_per_status_in_one_query(responder: User, incident: Incident, queue, django_assert_num_queries) -> None:
    by_ref = {a.source_ref: a for a in Alert.objects.all()}
    alerts_ignore(alerts=[by_ref["4712"], by_ref["4711"]], actor=responder, reason="Lab")
    alerts_link(alerts=[by_ref["EV-100"]], incident=incident, actor=responder)
    with django_assert_num_queries(1):  # one GROUP BY status
        counts = alert_counts(responder)
    assert counts == {"new": 2, "linked": 1, "promoted": 0, "ignored": 2}


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["executive", "vendor", "siem"])
def test_people_who_may_not_triage_get_nothing(request, persona: str, queue) -> None:
    viewer = request.getfixturevalue(persona)
    alert = Alert.objects.first()
    assert list(alert_queue(viewer=viewer, filters={})) == []
    assert alert_counts(viewer) == {"new": 0, "linked": 0, "promoted": 0, "ignored": 0}
    assert alert_get(viewer, alert.pk) is None


@pytest.mark.django_db
def test_a_restricted_incident_stays_unnamed_for_those_not_on_it(
    responder: User, outsider: User, admin: User, restricted_incident: Incident, queue
) -> None:
    """The responder is a member of the restricted incident; the outsider is not."""
    alert = Alert.objects.get(source_ref="EV-200")
    alerts_link(alerts=[alert], incident=restricted_incident, actor=responder)
    linked = {"status": "linked"}

    (for_member,) = alert_queue(viewer=responder, filters=linked)
    assert (for_member.incident_id, for_member.incident_reference) == (
        restricted_incident.pk,
        restricted_incident.reference,
    )
    (for_outsider,) = alert_queue(viewer=outsider, filters=linked)
    assert for_outsider.incident_reference is None  # the page says "a restricted incident"
    (for_admin,) = alert_queue(viewer=admin, filters=linked)
    assert for_admin.incident_reference == restricted_incident.reference

    detail = alert_get(outsider, alert.pk)
    assert (detail.incident_reference, detail.incident_title) == (None, None)
    detail = alert_get(responder, alert.pk)
    assert (detail.incident_reference, detail.incident_title) == (
        restricted_incident.reference,
        "Internal AI model exfiltrated via contractor",
    )


@pytest.mark.django_db
def test_alert_get_answers_none_for_an_unknown_alert(responder: User, queue) -> None:
    assert alert_get(responder, 987654) is None
    assert alert_get(responder, 2**70) is None  # larger than any id the database can hold
