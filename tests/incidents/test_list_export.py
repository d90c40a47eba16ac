"""The incident list as CSV (``/incidents/export.csv``): the list's own filters and visibility,
every page, streamed, safe to open in a spreadsheet, in a fixed number of queries."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Incident, MemberRole, VendorRole
from incidents.vendors import services as vendors

from ..factories import make_incident

pytestmark = pytest.mark.django_db
EXPORT = "/incidents/export.csv"
HEADER = [
    "reference", "title", "severity", "status", "category", "lead", "opened", "detected", "acknowledged",
    "contained", "resolved", "closed", "restricted", "vendors", "tags",
]  # fmt: skip


def rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    reader = csv.reader(io.StringIO(body))
    assert next(reader) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in reader]


def titles(response) -> list[str]:
    return [row["title"] for row in rows(response)]


@pytest.fixture
def registry(admin):
    return {
        name: vendors.vendor_create(actor=admin, name=name, tier=tier)
        for name, tier in [("Northwind Data Labs", "critical"), ("Tailspin Forensics", "medium")]
    }


def test_the_route_and_the_link_on_the_list_keep_the_filters(login, lead):
    assert reverse("incidents:list-export") == EXPORT
    page = login(lead).get("/incidents/?severity=high&tag=vpn&page=2").content.decode()
    assert f'href="{EXPORT}?severity=high&amp;tag=vpn" download>Export CSV</a>' in page


def test_one_row_with_every_column(login, lead, registry):
    incident = make_incident(
        opened_by=lead, lead=lead, title="Contractor token abused", severity="critical", category="third_party",
        detected_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC), tags=["vpn", "contractor"],
    )  # fmt: skip
    vendors.involvement_add(incident=incident, vendor=registry["Tailspin Forensics"], actor=lead,
                            role=VendorRole.SUPPORTING)  # fmt: skip
    vendors.involvement_add(incident=incident, vendor=registry["Northwind Data Labs"], actor=lead,
                            role=VendorRole.ENTRY_POINT)  # fmt: skip
    Incident.objects.filter(pk=incident.pk).update(
        created_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC), acknowledged_at=datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    )
    (row,) = rows(login(lead).get(EXPORT))
    assert row == {
        "reference": incident.reference,
        "title": "Contractor token abused",
        "severity": "critical",
        "status": "new",
        "category": "third_party",
        "lead": str(lead),
        "opened": "2026-03-01T10:00:00+00:00",
        "detected": "2026-03-01T09:00:00+00:00",
        "acknowledged": "2026-03-01T10:05:00+00:00",
        "contained": "",
        "resolved": "",
        "closed": "",
        "restricted": "false",
        "vendors": "Northwind Data Labs; Tailspin Forensics",
        "tags": "contractor; vpn",
    }


def test_the_list_defaults_and_filters_apply(login, lead, responder):
    make_incident(opened_by=lead, title="Ransom note", severity="critical")
    make_incident(opened_by=lead, title="VPN spray", severity="low")
    closed = make_incident(opened_by=lead, title="Lost laptop", severity="low")
    services.incident_close(incident=closed, actor=lead, resolution="false_positive")
    client = login(lead)
    # As the list: open incidents only unless asked, newest first.
    assert titles(client.get(EXPORT)) == ["VPN spray", "Ransom note"]
    assert titles(client.get(EXPORT, {"include_closed": "true"})) == ["Lost laptop", "VPN spray", "Ransom note"]
    assert titles(client.get(EXPORT, {"severity": "low", "include_closed": "true"})) == ["Lost laptop", "VPN spray"]
    assert titles(client.get(EXPORT, {"q": "ransom"})) == ["Ransom note"]
    assert titles(client.get(EXPORT, {"ordering": "-severity"})) == ["Ransom note", "VPN spray"]


def test_every_page_not_just_the_first(login, lead, settings):
    settings.INCIDENT_PAGE_SIZE = 2
    for n in range(5):
        make_incident(opened_by=lead, title=f"Case {n}")
    assert titles(login(lead).get(EXPORT, {"page": "2"})) == [f"Case {n}" for n in range(4, -1, -1)]


def test_a_bad_filter_value_is_a_400_with_the_forms_message(login, lead):
    response = login(lead).get(EXPORT, {"severity": "apocalyptic"})
    assert response.status_code == 400
    assert response.content.decode() == (
        "severity: Select a valid choice. apocalyptic is not one of the available choices."
    )


def test_restricted_incidents_only_for_those_on_them(login, lead, outsider, restricted_incident):
    make_incident(opened_by=lead, title="Open to all")
    assert titles(login(lead).get(EXPORT)) == ["Open to all", "Internal AI model exfiltrated via contractor"]
    assert titles(login(outsider).get(EXPORT)) == ["Open to all"]


def test_a_vendor_collaborator_gets_their_incidents_and_only_their_vendors_name(
    login, lead, vendor, registry, restricted_incident
):
    vendor.vendor = registry["Northwind Data Labs"]
    vendor.save(update_fields=["vendor"])
    make_incident(opened_by=lead, title="Not theirs")
    for name in registry:
        vendors.involvement_add(incident=restricted_incident, vendor=registry[name], actor=lead)
    (row,) = rows(login(vendor).get(EXPORT))
    assert (row["title"], row["vendors"]) == ("Internal AI model exfiltrated via contractor", "Northwind Data Labs")


def test_a_vendor_collaborator_without_a_company_sees_no_vendor_names(
    login, lead, vendor, registry, restricted_incident
):
    vendors.involvement_add(incident=restricted_incident, vendor=registry["Tailspin Forensics"], actor=lead)
    (row,) = rows(login(vendor).get(EXPORT))
    assert row["vendors"] == ""


def test_cells_a_spreadsheet_would_run_are_quoted(login, lead, admin):
    # (Tags cannot start with one of these characters: the service refuses them.)
    evil = vendors.vendor_create(actor=admin, name="@SUM(1+1) Ltd")
    lead.first_name, lead.last_name = "-2+3", "Cmd"
    lead.save(update_fields=["first_name", "last_name"])
    incident = make_incident(opened_by=lead, lead=lead, title='=HYPERLINK("http://evil.example","x")')
    vendors.involvement_add(incident=incident, vendor=evil, actor=lead)
    (row,) = rows(login(lead).get(EXPORT))
    assert row["title"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["vendors"] == "'@SUM(1+1) Ltd"
    assert row["lead"] == "'-2+3 Cmd"
    assert row["reference"] == incident.reference  # nothing else touched


def test_login_and_safe_methods_only(client, login, lead):
    response = client.get(EXPORT)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert login(lead).post(EXPORT).status_code == 405


@pytest.mark.parametrize("size", [1, 8])
def test_queries_do_not_grow_with_rows_or_vendors(login, lead, registry, size, django_assert_num_queries):
    for n in range(size):
        incident = make_incident(opened_by=lead, lead=lead, title=f"Case {n}", tags=[f"t{n}"])
        for vendor in registry.values():
            vendors.involvement_add(incident=incident, vendor=vendor, actor=lead)
    client = login(lead)
    # session, user, the incidents (lead joined, tags aggregated), their vendors (one prefetch).
    with django_assert_num_queries(4):
        assert len(rows(client.get(EXPORT))) == size


def test_an_observer_member_sees_the_restricted_row(login, lead, executive, restricted_incident):
    services.member_add(incident=restricted_incident, user=executive, actor=lead, role=MemberRole.OBSERVER)
    assert titles(login(executive).get(EXPORT)) == ["Internal AI model exfiltrated via contractor"]
