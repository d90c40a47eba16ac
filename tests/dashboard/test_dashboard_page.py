"""The dashboard page (``/dashboard/``): who may open it, the period form, what it shows (a
section only when it has data, each chart an image with alt text and a table beside it), and
its query count, the same for 3 incidents as for 30."""

from __future__ import annotations

import base64
import re

import pytest

from incidents.models import Category, Severity, Status, Vendor, VendorInvolvement
from intake.models import AlertStatus
from timeline.models import EventKind

from ..factories import UserFactory
from .conftest import MARCH, alert, at, breach, event, incident_at

pytestmark = pytest.mark.django_db
URL = "/dashboard/"
MARCH_PAGE = {"period": "custom", **MARCH}
CHART = re.compile(r'<img src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"')


def page(client, params=MARCH_PAGE):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


# --- Who -------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["executive", "lead", "responder", "admin"])
def test_staff_open_it(request, login, persona):
    assert login(request.getfixturevalue(persona)).get(URL).status_code == 200


def test_a_vendor_collaborator_gets_404(login, vendor):
    assert login(vendor).get(URL).status_code == 404


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(URL)
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/dashboard/")


def test_it_only_reads(login, executive):
    assert login(executive).post(URL).status_code == 405


def test_the_nav_links_it_for_all_but_vendor_collaborators(login, executive, vendor, client):
    assert 'href="/dashboard/"' in login(executive).get("/incidents/").content.decode()
    client.logout()
    assert 'href="/dashboard/"' not in login(vendor).get("/incidents/").content.decode()


# --- What it shows ---------------------------------------------------------------------------
def test_the_figures_of_the_period(world, login, executive):
    html = page(login(executive))
    kpis = re.search(r'<tr id="kpi-mtta">(.*?)</tr>', html, re.S)[1]
    assert re.findall(r"<td>(.*?)</td>", kpis) == ["30 min", "20 min", "3 of 4 incidents"]
    kpis = re.search(r'<tr id="kpi-mttr">(.*?)</tr>', html, re.S)[1]
    assert re.findall(r"<td>(.*?)</td>", kpis) == ["6 h 45 min", "6 h 45 min", "2 of 4 incidents"]
    # SLA breaches and clocks link to their incidents.
    assert f'href="/incidents/{world.a.reference}/"' in html
    assert f'href="/incidents/{world.b.reference}/"' in html
    assert "missed" in html
    assert "4 alerts received, 2 became incident work (50%)" in html


def test_every_chart_is_an_image_with_its_figures_in_the_alt_text(world, login, executive):
    alts = CHART.findall(page(login(executive)))
    assert [alt.split(":")[0].split(".")[0] for alt in alts] == [
        "Open incidents by severity",
        "Open incidents by status",
        "New and closed incidents per week",
        "Median response times per week (hours)",
        "Vendors in open incidents by tier",
        "Incidents per vendor per week (top 3)",
        "Alerts received per week",
        "Top categories",
        "Top ATT&amp;CK techniques",
    ]
    assert alts[0] == "Open incidents by severity: Critical 1; High 1; Medium 2."


def test_the_charts_carry_no_script(world, login, executive):
    images = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page(login(executive)))
    svgs = [base64.b64decode(image).decode() for image in images]
    assert len(svgs) == 9
    assert all(svg.startswith("<svg") and "<script" not in svg for svg in svgs)


def test_the_page_shows_the_apis_figures(world, login, executive):
    client = login(executive)
    shown = client.get(URL, MARCH_PAGE).context["data"].as_json()
    assert shown == client.get("/api/v1/metrics/", MARCH).json()


def test_a_restricted_incident_is_not_on_the_page_of_someone_who_may_not_see_it(world, login, executive, client, lead):
    assert world.r.reference not in page(login(executive))
    client.logout()
    assert world.r.reference in page(login(lead))


def test_an_empty_period_says_so_and_draws_no_empty_chart(world, login, executive):
    html = page(login(executive), {"period": "custom", "from": "2025-01-06", "to": "2025-01-12"})
    assert "No incidents were opened or closed in this period." in html
    for section in ("dash-flow", "dash-kpis", "dash-alerts", "dash-top"):
        assert f'id="{section}"' not in html
    # Only what stands now is drawn: open incidents (2 charts) and vendors in open incidents.
    assert len(CHART.findall(html)) == 3


def test_nothing_at_all(login, executive):
    html = page(login(executive), {})
    assert "No open incidents." in html
    assert CHART.findall(html) == []


# --- The period form -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "fortnight"}, "Period: Select a valid choice. fortnight is not one of the available choices."),
        (
            {"period": "custom", "from": "2026-03-31", "to": "2026-03-01"},
            "To: The end of the period must not be before its start.",
        ),
        ({"period": "custom", "from": "2023-01-01", "to": "2026-03-01"}, "To: A period spans at most 731 days."),
        ({"period": "custom", "from": "yesterday", "to": "2026-03-01"}, "From: Enter a valid date."),
        ({"period": "custom", "to": "2026-03-01"}, "From: Choose the first day of the period."),
    ],
)  # fmt: skip
def test_a_bad_period_is_a_form_error_not_a_500(login, executive, params, message):
    html = page(login(executive), params)
    assert message in html
    assert "Showing the last 30 days." in html


@pytest.mark.parametrize(
    ("name", "label"), [("7d", "Last 7 days"), ("90d", "Last 90 days"), ("quarter", "This quarter")]
)
def test_the_presets(login, executive, name, label):
    assert f"{label}: " in page(login(executive), {"period": name})


# --- Queries ---------------------------------------------------------------------------------
def many(lead, count: int) -> None:
    """``count`` incidents in March with everything the dashboard reads: timeline milestones and
    a technique, a vendor, an SLA breach, an alert."""
    vendor = Vendor.objects.create(name=f"Vendor of {count}")
    for number in range(count):
        day = 2 + number % 27
        incident = incident_at(
            lead, at(day), severity=Severity.HIGH, category=Category.MALWARE, status=Status.CONTAINED,
            acknowledged_at=at(day, minute=15), contained_at=at(day, hour=12),
        )  # fmt: skip
        event(incident, EventKind.ATTACKER, at(day, hour=8), "T1059")
        event(incident, EventKind.DETECTION, at(day, hour=9))
        VendorInvolvement.objects.create(incident=incident, vendor=vendor)
        breach(incident, "acknowledge", at(day, minute=5))
        alert(f"m{count}-{number}", at(day, hour=9), AlertStatus.PROMOTED, incident)


@pytest.mark.parametrize("count", [3, 30])
def test_the_query_count_does_not_grow_with_the_data(login, django_assert_num_queries, count):
    lead = UserFactory(username="lead-q", role="lead")
    many(lead, count)
    client = login(UserFactory(username="exec-q", role="executive"))
    # 15: the session and the user (2), then one query per figure (incidents.metrics): open
    # incidents, new, closed, the four KPIs (one statement), SLA breaches, regulatory clocks,
    # vendors by tier, open access, top vendors and their trend, alerts, categories, techniques.
    with django_assert_num_queries(15):
        html = page(client)
    assert f"{count} of {count} incidents" in html
