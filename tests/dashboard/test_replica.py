"""The dashboard and ``/api/v1/metrics/`` read from the replica when ``DATABASE_REPLICA_URL``
configures one (``DATABASES["replica"]``), and from the primary when it does not.

The replica here is a second connection to the test database, as Django's ``TEST: {"MIRROR":
"default"}`` makes of a configured one: the figures must come out the same, and every query of
``incidents.metrics`` must go through it. The tests are transactional because a second connection
does not see rows the first has not committed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from incidents import metrics
from incidents.models import Category, Severity, Vendor, VendorInvolvement
from intake.models import AlertStatus
from timeline.models import EventKind

from ..factories import UserFactory
from .conftest import MARCH, alert, at, breach, event, incident_at

API = "/api/v1/metrics/"
PAGE = "/dashboard/"
# Queries of incidents.metrics.dashboard_metrics, one per figure (tests/dashboard/test_dashboard_page.py
# pins the page at 15: these 13, plus the session and the user).
FIGURE_QUERIES = 13


@pytest.fixture(scope="class")
def replica_alias(django_db_setup) -> Iterator[str]:
    """A "replica" alias on the test database, for one class of tests. Class-scoped so it exists
    before the tests' ``django_db(databases=[…, "replica"])`` is checked, and is gone after."""
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    settings_dict["TEST"]["MIRROR"] = "default"
    connections.settings["replica"] = settings_dict
    yield "replica"
    connections["replica"].close()
    del connections["replica"]
    del connections.settings["replica"]


@pytest.fixture
def one(lead):
    """One incident on Monday 2 March 2026 10:00: acknowledged 10 min later, the attacker seen an
    hour before detection (T1566), its acknowledge SLA breached at 10:05, one promoted alert, one
    vendor involved (else the top vendors' trend, having no vendor, skips its query)."""
    incident = incident_at(
        lead, at(2), severity=Severity.HIGH, category=Category.PHISHING, acknowledged_at=at(2, minute=10)
    )
    event(incident, EventKind.ATTACKER, at(2, hour=9), "T1566")
    breach(incident, "acknowledge", at(2, minute=5))
    alert("r1", at(2, hour=9), AlertStatus.PROMOTED, incident)
    VendorInvolvement.objects.create(incident=incident, vendor=Vendor.objects.create(name="Northwind"))
    return incident


def figures(body: dict) -> tuple:
    """The figures of ``one`` that each need data from a different table."""
    mttd = next(kpi for kpi in body["kpis"] if kpi["key"] == "mttd")
    return (
        body["open_incidents"]["total"],
        mttd["mean"],
        body["sla_breaches"]["total"],
        body["alerts"]["promoted"],
        body["top_techniques"],
        [vendor["vendor"] for vendor in body["vendors"]["top"]],
    )


EXPECTED = (1, 3600, 1, 1, [{"technique": "T1566", "name": "Phishing", "count": 1}], ["Northwind"])


@pytest.mark.usefixtures("replica_alias")
@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
class TestWithAReplica:
    def test_the_metrics_api_reads_only_from_it(self, one, api):
        assert metrics.reporting_alias() == "replica"
        client = api("incidents:read", user=UserFactory(username="exec-r", role="executive"))
        with (
            CaptureQueriesContext(connections["default"]) as primary,
            CaptureQueriesContext(connections["replica"]) as read,
        ):
            response = client.get(API, MARCH)
        assert response.status_code == 200
        assert figures(response.json()) == EXPECTED
        assert len(read) == FIGURE_QUERIES
        # The primary keeps the API key's lookup (and its last-used stamp): none of the figures.
        assert not any("incidents_incident" in query["sql"] for query in primary.captured_queries)

    def test_the_dashboard_page_reads_its_figures_from_it(self, one, login):
        client = login(UserFactory(username="exec-p", role="executive"))
        with (
            CaptureQueriesContext(connections["default"]) as primary,
            CaptureQueriesContext(connections["replica"]) as read,
        ):
            response = client.get(PAGE, {"period": "custom", **MARCH})
        assert response.status_code == 200
        assert "1 of 1 incidents" in response.content.decode()
        # 2 on the primary: the session and the user; the 13 figures on the replica (15 in all,
        # as without a replica).
        assert (len(primary), len(read)) == (2, FIGURE_QUERIES)


@pytest.mark.django_db
def test_without_a_replica_everything_stays_on_the_primary(one, login):
    assert "replica" not in connections
    assert metrics.reporting_alias() == "default"
    client = login(UserFactory(username="exec-d", role="executive"))
    with CaptureQueriesContext(connections["default"]) as primary:
        response = client.get(PAGE, {"period": "custom", **MARCH})
    assert response.status_code == 200
    assert len(primary) == 2 + FIGURE_QUERIES
