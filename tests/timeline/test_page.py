"""The timeline page (``GET /incidents/<ref>/timeline/``) and the key-events view: order and
date groups across time zones and precisions, filters, keyset pagination, what each persona
sees, and the query counts pinned whatever the number of events. Adding and editing in place:
test_page_edit.py."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.urls import reverse

from incidents import services as case_services
from incidents.indicators import services as indicators
from incidents.models import MemberRole
from incidents.vendors import services as vendors

from .page_support import HTMX, add, add_many, page_url, text, timeline_lines, titles

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(lead, responder, incident):
    case_services.member_add(incident=incident, user=responder, actor=lead)
    return responder


def mixed(incident, actor):
    """Five events given in four offsets and every precision, added out of order."""
    add(
        incident,
        actor,
        "Recovery of the mailbox",
        "2026-03-02T09:05:00+01:00",
        precision="approximate",
        kind="recovery",
    )
    add(incident, actor, "Phishing mail opened", "2026-03-01T23:30:00-05:00", precision="exact")
    add(incident, actor, "Mailbox rule created", date(2026, 3, 2), precision="day", key_event=True)
    add(incident, actor, "VPN sign-in from Mumbai", "2026-03-02T06:10:00+05:30", precision="minute")
    add(incident, actor, "Reconnaissance of the tenant", "2026-03-01T22:15:42Z", precision="hour")


# --- Order and date groups -------------------------------------------------------------------
def test_events_are_ordered_and_grouped_by_date_in_the_display_zone(login, lead, incident, settings):
    settings.TIME_ZONE = "UTC"
    mixed(incident, lead)

    response = login(lead).get(page_url(incident))

    assert response.status_code == 200
    assert timeline_lines(response.content.decode()) == [
        "## Sunday 1 March 2026",
        "22:00 (hour) Reconnaissance of the tenant",  # given in UTC: no second clock
        "## Monday 2 March 2026",
        "whole day Mailbox rule created",  # a day sorts first in its date
        "00:40 [06:10 +05:30 at source] VPN sign-in from Mumbai",
        "04:30:00 [1 Mar 23:30:00 -05:00 at source] Phishing mail opened",
        "≈ 08:05 [≈ 09:05 +01:00 at source] Recovery of the mailbox",
    ]


def test_the_same_events_shown_in_new_york_regroup_by_its_dates(login, lead, incident, settings):
    settings.TIME_ZONE = "America/New_York"
    mixed(incident, lead)

    page = login(lead).get(page_url(incident)).content.decode()

    assert timeline_lines(page) == [
        "## Sunday 1 March 2026",
        "17:00 (hour) [22:00 +00:00 at source] Reconnaissance of the tenant",
        "19:40 [2 Mar 06:10 +05:30 at source] VPN sign-in from Mumbai",
        "23:30:00 Phishing mail opened",  # given at -05:00, New York's own offset in March
        "## Monday 2 March 2026",
        "whole day Mailbox rule created",
        "≈ 03:05 [≈ 09:05 +01:00 at source] Recovery of the mailbox",
    ]
    assert "Times in EST" in page


def test_an_event_shows_its_technique_links_source_vendor_and_who_recorded_it(login, lead, admin, incident):
    northwind = vendors.vendor_create(actor=admin, name="Northwind MSP")
    vendors.involvement_add(incident=incident, vendor=northwind, actor=lead)
    ioc = indicators.indicator_add(incident=incident, actor=lead, type="ip", value="203.0.113.7")
    from incidents.evidence import services as evidence

    log = evidence.evidence_text_add(incident=incident, actor=lead, name="signin.log", text="sign-in 203.0.113.7")
    add(
        incident,
        lead,
        "Contractor token used from a new ASN",
        "2026-03-02T06:10:00Z",
        technique="T1078.004",
        source="Entra ID sign-in log",
        description="Signed in with **MFA fatigue**.<script>alert(1)</script>",
        vendor=northwind.pk,
        evidence=[log.pk],
        indicators=[ioc.pk],
        key_event=True,
    )

    page = login(lead).get(page_url(incident)).content.decode()

    technique = re.search(r'<dd class="event-technique"><a href="([^"]+)" rel="noopener noreferrer">(.*?)</a>', page)
    assert technique.groups() == (
        "https://attack.mitre.org/techniques/T1078/004/",
        "T1078.004 Valid Accounts: Cloud Accounts",
    )
    assert '<dd class="event-source">Entra ID sign-in log</dd>' in page
    assert '<dd class="event-vendor">Northwind MSP</dd>' in page
    assert f'<a href="/incidents/{incident.reference}/#evidence-{log.pk}">signin.log</a>' in page
    assert f'href="/incidents/{incident.reference}/#indicator-{ioc.pk}"><code>203.0.113.7</code>' in page
    assert "<strong>MFA fatigue</strong>" in page and "<script>alert(1)</script>" not in page
    assert "★ Key event" in page
    assert "more field" not in page  # no extra columns: no attributes shown
    recorded = re.search(r'<p class="meta event-recorded">(.*?)</p>', page, re.S)
    assert text(recorded[1]).startswith(f"Recorded by {lead}")


def test_an_imported_rows_extra_columns_are_shown_by_name(login, lead, incident):
    add(
        incident,
        lead,
        "4624 logon",
        "2026-03-02T06:10:00Z",
        attributes={"items": "not the dict's method", "hostname": "FIN-LT-042", "event_id": 4624},
    )

    page = login(lead).get(page_url(incident)).content.decode()

    block = re.search(r'<details class="event-attributes">(.*?)</details>', page, re.S)[1]
    assert text(block.split("</summary>")[0]) == "3 more fields from the source"
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block)
    assert pairs == [("event_id", "4624"), ("hostname", "FIN-LT-042"), ("items", "not the dict&#x27;s method")]


# --- Filters ---------------------------------------------------------------------------------
@pytest.fixture
def varied(lead, admin, incident):
    northwind = vendors.vendor_create(actor=admin, name="Northwind MSP")
    contoso = vendors.vendor_create(actor=admin, name="Contoso Forensics")
    for vendor in (northwind, contoso):
        vendors.involvement_add(incident=incident, vendor=vendor, actor=lead)
    add(incident, lead, "Token stolen", "2026-03-01T08:00:00Z", technique="T1078", vendor=northwind.pk)
    add(incident, lead, "Cloud sign-in", "2026-03-01T09:00:00Z", technique="T1078.004", key_event=True)
    add(incident, lead, "Trusted relationship abused", "2026-03-01T10:00:00Z", technique="T1199", vendor=northwind.pk)
    add(incident, lead, "EDR alert", "2026-03-01T11:00:00Z", kind="detection", key_event=True, vendor=contoso.pk)
    add(incident, lead, "Hosts isolated", "2026-03-01T12:00:00Z", kind="containment")
    return {"northwind": northwind, "contoso": contoso}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Token stolen", "Cloud sign-in", "Trusted relationship abused", "EDR alert", "Hosts isolated"]),
        ("kind=detection&kind=containment", ["EDR alert", "Hosts isolated"]),
        ("key=on", ["Cloud sign-in", "EDR alert"]),
        ("technique=T1078", ["Token stolen", "Cloud sign-in"]),  # the technique and its sub-techniques
        ("technique=t1078.004", ["Cloud sign-in"]),
        ("technique=T1199", ["Trusted relationship abused"]),
        ("kind=attacker&key=on", ["Cloud sign-in"]),
    ],
)
def test_filters(login, lead, incident, varied, query, expected):
    response = login(lead).get(page_url(incident, query))

    assert response.status_code == 200
    assert titles(response.content.decode()) == expected


def test_the_vendor_filter(login, lead, incident, varied):
    page = login(lead).get(page_url(incident, f"vendor={varied['northwind'].pk}")).content.decode()

    assert titles(page) == ["Token stolen", "Trusted relationship abused"]
    options = re.findall(
        r'<option value="(\d*)"[^>]*>([^<]*)</option>', page.split('id="filter-vendor"')[1].split("</select>")[0]
    )
    assert options == [
        ("", "Any vendor"),
        (str(varied["contoso"].pk), "Contoso Forensics"),
        (str(varied["northwind"].pk), "Northwind MSP"),
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("kind=bogus", "Select a valid choice. bogus is not one of the available choices."),
        ("vendor=abc", "Select a valid choice. abc is not one of the available choices."),
        ("vendor=999999", "Select a valid choice. 999999 is not one of the available choices."),
        ("technique=%3Cscript%3E", "Enter a technique id such as T1078 or T1078.004."),
        ("technique=T1078.004.1", "Ensure this value has at most 9 characters (it has 11)."),
    ],
)
def test_a_bad_filter_is_an_error_and_is_not_applied(login, lead, incident, varied, query, message):
    response = login(lead).get(page_url(incident, f"{query}&key=on"))

    assert response.status_code == 200
    page = response.content.decode()
    assert message in text(page)
    assert "This filter is not applied." in page
    assert titles(page) == ["Cloud sign-in", "EDR alert"]  # the good filter still applies


def test_a_vendor_of_another_incident_is_not_a_filter_choice(login, lead, admin, incident, varied):
    elsewhere = vendors.vendor_create(actor=admin, name="Fabrikam")

    page = login(lead).get(page_url(incident, f"vendor={elsewhere.pk}")).content.decode()

    assert "Fabrikam" not in page
    assert f"Select a valid choice. {elsewhere.pk} is not one of the available choices." in text(page)


# --- Pagination ------------------------------------------------------------------------------
def more_url(page: str) -> str:
    match = re.search(r'<div id="timeline-more".*?href="([^"]+)"', page, re.S)
    return match[1].replace("&amp;", "&") if match else ""


def test_keyset_pagination_with_a_continued_date_header(login, lead, incident):
    # 150 events a minute apart from 1 Feb 23:00: 60 on 1 Feb, 90 on 2 Feb. Page one ends with
    # the 100th (Event 099, 2 Feb 00:39), so page two starts mid-day: its header is "continued".
    add_many(incident, lead, 150, start_hour=23)
    client = login(lead)

    first = client.get(page_url(incident)).content.decode()
    lines = timeline_lines(first)
    assert len(titles(first)) == 100
    assert [line for line in lines if line.startswith("##")] == [
        "## Sunday 1 February 2026",
        "## Monday 2 February 2026",
    ]
    assert lines[1] == "23:00 Event 000" and lines[-1] == "00:39 Event 099"
    following = more_url(first)
    assert following.startswith(page_url(incident, "after="))

    second = client.get(following).content.decode()
    lines = timeline_lines(second)
    assert lines[0] == "## Monday 2 February 2026 (continued)"
    assert lines[1] == "00:40 Event 100" and lines[-1] == "01:29 Event 149"
    assert len(titles(second)) == 50
    assert more_url(second) == ""
    assert "Back to the first event" in second


def test_a_page_that_starts_on_a_new_date_is_not_continued(login, lead, incident):
    add_many(incident, lead, 100, start_hour=22, kind="attacker")  # 1 Feb 22:00 … 23:39
    add(incident, lead, "Next morning", "2026-02-02T08:00:00Z")

    page = login(lead).get(more_url(login(lead).get(page_url(incident)).content.decode())).content.decode()

    assert timeline_lines(page) == ["## Monday 2 February 2026", "08:00:00 Next morning"]


def test_the_later_events_control_keeps_the_filters_and_htmx_gets_the_next_page_alone(login, lead, incident):
    add_many(incident, lead, 120, key_event=True)
    add_many(incident, lead, 30, start_hour=5)  # not key events
    client = login(lead)

    first = client.get(page_url(incident, "key=on")).content.decode()
    following = more_url(first)
    assert "key=on" in following
    response = client.get(following, **HTMX)

    assert response.status_code == 200
    part = response.content.decode()
    assert "<html" not in part and "Attack timeline" not in part
    assert titles(part) == [f"Event {n:03d}" for n in range(100, 120)]
    assert timeline_lines(part)[0] == "## Sunday 1 February 2026 (continued)"


@pytest.mark.parametrize("after", ["garbage", "W1swLDFdXQ:bad", "", "x" * 500])
def test_a_bad_cursor_shows_the_first_page(login, lead, incident, after):
    add_many(incident, lead, 3)

    response = login(lead).get(page_url(incident, f"after={after}"))

    assert response.status_code == 200
    assert titles(response.content.decode()) == ["Event 000", "Event 001", "Event 002"]


def test_a_cursor_is_signed(login, lead, incident):
    add_many(incident, lead, 101)
    client = login(lead)
    following = more_url(client.get(page_url(incident)).content.decode())
    assert titles(client.get(following).content.decode()) == ["Event 100"]
    value, signature = following.split("after=")[1].rsplit("%3A", 1)
    forged = f"{value}%3A{'A' * len(signature)}"

    page = client.get(page_url(incident, f"after={forged}")).content.decode()

    assert titles(page)[:2] == ["Event 000", "Event 001"]


# --- Query counts ----------------------------------------------------------------------------
@pytest.mark.parametrize("count", [5, 150])
def test_the_page_costs_the_same_queries_for_5_or_150_events(
    login, lead, member, incident, django_assert_num_queries, count
):
    add_many(incident, lead, count)
    client = login(member)
    # 11, whatever the number of events: the session and its user (2); the incident (1); the
    # member's standing for the rule table (1); the vendors the viewer may know, for the filter
    # and the add form (1); the milestones (1); one page of events with who recorded them and
    # their vendor (1), then the evidence and the indicators linked to that page (2); the add
    # form's evidence and indicator choices (2). Keyset pagination never counts the events.
    with django_assert_num_queries(11):
        response = client.get(page_url(incident))
    assert response.status_code == 200
    assert len(titles(response.content.decode())) == min(count, 100)


# --- Who sees what ---------------------------------------------------------------------------
def test_an_outsider_gets_404_and_an_executive_reads(login, lead, outsider, executive, restricted_incident, incident):
    add(incident, lead, "Phishing mail opened", "2026-03-01T08:00:00Z")

    assert login(outsider).get(page_url(restricted_incident)).status_code == 404
    assert login(outsider).get(reverse("timeline:key-events", args=[restricted_incident.reference])).status_code == 404
    page = login(executive).get(page_url(incident)).content.decode()
    assert titles(page) == ["Phishing mail opened"]
    assert 'id="event-add-form"' not in page and "event-edit" not in page


def test_a_vendor_collaborator_sees_no_internal_event_and_no_other_vendor(
    login, lead, vendor, admin, restricted_incident
):
    incident = restricted_incident
    northwind = vendors.vendor_create(actor=admin, name="Northwind MSP")
    contoso = vendors.vendor_create(actor=admin, name="Contoso Forensics")
    vendor.vendor = northwind
    vendor.save()
    for company in (northwind, contoso):
        vendors.involvement_add(incident=incident, vendor=company, actor=lead)
    add(incident, lead, "Internal: suspect named", "2026-03-01T08:00:00Z", internal=True)
    add(incident, lead, "Shared: Northwind token revoked", "2026-03-01T09:00:00Z", internal=False, vendor=northwind.pk)
    add(incident, lead, "Shared: Contoso imaged the laptop", "2026-03-01T10:00:00Z", internal=False, vendor=contoso.pk)

    page = login(vendor).get(page_url(incident)).content.decode()

    assert titles(page) == ["Shared: Northwind token revoked", "Shared: Contoso imaged the laptop"]
    assert "Contoso Forensics" not in page
    assert page.count('<dd class="event-vendor">Northwind MSP</dd>') == 1
    assert "badge internal" not in page
    filter_select = page.split('id="filter-vendor"')[1].split("</select>")[0]
    assert "Contoso" not in filter_select and "Northwind MSP" in filter_select
    # Filtering by the other vendor's id is not a choice, not a way to learn of its events.
    probe = login(vendor).get(page_url(incident, f"vendor={contoso.pk}")).content.decode()
    assert titles(probe) == titles(page)
    staff = login(lead).get(page_url(incident)).content.decode()
    assert titles(staff)[0] == "Internal: suspect named"


def test_an_observer_reads_without_forms(login, lead, incident):
    from tests.factories import UserFactory

    watcher = UserFactory(username="olga")
    case_services.member_add(incident=incident, user=watcher, actor=lead, role=MemberRole.OBSERVER)
    add(incident, lead, "Phishing mail opened", "2026-03-01T08:00:00Z")

    page = login(watcher).get(page_url(incident)).content.decode()

    assert titles(page) == ["Phishing mail opened"]
    assert 'id="event-add-form"' not in page and "event-edit" not in page


# --- Key events view -------------------------------------------------------------------------
def test_the_key_events_view_lists_key_events_one_line_each(
    login, lead, executive, incident, django_assert_num_queries
):
    mixed(incident, lead)
    add(incident, lead, "Contractor account used", "2026-03-01T20:00:00Z", key_event=True, technique="T1078.004")
    add(
        incident,
        lead,
        "EDR quarantined the loader",
        "2026-03-02T10:00:00Z",
        kind="detection",
        key_event=True,
        precision="minute",
    )
    client = login(executive)

    # 5: the session and its user (2), the incident (1), the key events (1), the milestones (1).
    with django_assert_num_queries(5):
        response = client.get(reverse("timeline:key-events", args=[incident.reference]))

    assert response.status_code == 200
    page = response.content.decode()
    rows = re.findall(r'<tr class="key-event[^"]*">(.*?)</tr>', page, re.S)
    lines = [" | ".join(text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)) for row in rows]
    assert lines == [
        "1 Mar 2026 | 20:00:00 | Attacker activity | Contractor account used"
        " | T1078.004 Valid Accounts: Cloud Accounts",
        "2 Mar 2026 | whole day | Attacker activity | Mailbox rule created | —",
        "2 Mar 2026 | 10:00 | Detection | EDR quarantined the loader | —",
    ]
    assert incident.title in page and incident.reference in page
    assert 'class="milestones"' in page
    assert "<form" not in page.split('id="content"')[1]
