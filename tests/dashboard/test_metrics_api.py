"""``GET /api/v1/metrics/?from=&to=``: the dashboard's figures as JSON (the whole body written
out below), who may read them, and 400 with field messages for a bad period."""

from __future__ import annotations

import pytest

from incidents.models import Category, Severity
from timeline.models import EventKind

from .conftest import at, event, incident_at

pytestmark = pytest.mark.django_db
URL = "/api/v1/metrics/"
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}


@pytest.fixture
def one(lead):
    """One incident on Monday 2 March 2026 10:00: acknowledged 10 min later, the attacker seen
    an hour before detection (T1566). Nothing else."""
    incident = incident_at(
        lead, at(2), severity=Severity.HIGH, category=Category.PHISHING, acknowledged_at=at(2, minute=10)
    )
    event(incident, EventKind.ATTACKER, at(2, hour=9), "T1566")
    return incident


def test_the_figures_as_json(one, api, executive):
    response = api("incidents:read", user=executive).get(URL, WEEK)
    assert response.status_code == 200
    no_trend = [{"bucket": "2026-03-02", "mean": None, "median": None, "count": 0}]
    assert response.json() == {
        "period": {"start": "2026-03-02T00:00:00+00:00", "end": "2026-03-09T00:00:00+00:00", "bucket": "week"},
        "open_incidents": {
            "total": 1,
            "by_severity": [{"severity": "high", "label": "High", "count": 1}],
            "by_status": [{"status": "new", "label": "New", "count": 1}],
        },
        "flow": [{"bucket": "2026-03-02", "opened": 1, "closed": 0}],
        "incidents_in_period": 1,
        "kpis": [
            {
                "key": "mttd", "label": "Time to detect", "mean": 3600, "median": 3600, "count": 1, "of": 1,
                "trend": [{"bucket": "2026-03-02", "mean": 3600, "median": 3600, "count": 1}],
            },
            {
                "key": "mtta", "label": "Time to acknowledge", "mean": 600, "median": 600, "count": 1, "of": 1,
                "trend": [{"bucket": "2026-03-02", "mean": 600, "median": 600, "count": 1}],
            },
            {
                "key": "mttc", "label": "Time to contain", "mean": None, "median": None, "count": 0, "of": 1,
                "trend": no_trend,
            },
            {
                "key": "mttr", "label": "Time to resolve", "mean": None, "median": None, "count": 0, "of": 1,
                "trend": no_trend,
            },
        ],
        "sla_breaches": {"total": 0, "items": []},
        "regulatory_clocks": {"total": 0, "items": []},
        "vendors": {"in_open_incidents_by_tier": [], "open_access": {"total": 0, "items": []}, "top": []},
        "alerts": {
            "received": 0,
            "promoted": 0,
            "promoted_share": None,
            "trend": [{"bucket": "2026-03-02", "received": 0, "promoted": 0}],
        },
        "top_categories": [{"category": "phishing", "label": "Phishing", "count": 1}],
        "top_techniques": [{"technique": "T1566", "name": "Phishing", "count": 1}],
    }  # fmt: skip


def test_without_dates_the_last_30_days(one, login, executive):
    body = login(executive).get(URL).json()
    assert body["incidents_in_period"] == 0  # March is long past
    assert body["open_incidents"]["total"] == 1


# --- Who -------------------------------------------------------------------------------------
def test_a_key_needs_incidents_read(one, api, lead):
    assert api("incidents:write", user=lead).get(URL, WEEK).status_code == 403
    assert api("incidents:read", user=lead).get(URL, WEEK).status_code == 200


def test_a_vendor_collaborator_gets_404(one, login, vendor):
    assert login(vendor).get(URL, WEEK).status_code == 404


def test_anonymous_gets_401_or_403(client):
    assert client.get(URL, WEEK).status_code in (401, 403)


def test_a_restricted_incident_is_counted_only_for_members(lead, login, executive, client):
    incident_at(lead, at(3), severity=Severity.LOW, category=Category.INSIDER, restricted=True)
    assert login(executive).get(URL, WEEK).json()["incidents_in_period"] == 0
    client.logout()
    assert login(lead).get(URL, WEEK).json()["incidents_in_period"] == 1


# --- Bad parameters --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"from": "2026-03-31", "to": "2026-03-01"}, {"to": ["The end of the period must not be before its start."]}),
        ({"from": "2023-01-01", "to": "2026-03-01"}, {"to": ["A period spans at most 731 days."]}),
        (
            {"from": "March", "to": "2026-03-01"},
            {"from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        ({"from": "2026-03-01"}, {"to": ["Give both from and to, or neither (the last 30 days)."]}),
        ({"to": "2026-03-01"}, {"from": ["Give both from and to, or neither (the last 30 days)."]}),
    ],
)  # fmt: skip
def test_a_bad_period_is_400_with_field_messages(login, executive, params, errors):
    response = login(executive).get(URL, params)
    assert (response.status_code, response.json()) == (400, errors)


def test_two_years_is_the_longest_period(login, executive):
    assert login(executive).get(URL, {"from": "2024-03-01", "to": "2026-02-28"}).status_code == 200
