"""The timeline API, reading: ``GET /api/v1/incidents/{reference}/timeline/`` (cursor pages in
timeline order, filters, what each event says) and ``GET …/timeline/{id}/``, with who may see
what: a vendor collaborator never sees internal events nor another company; an outsider gets 404.

Writing (POST single and batch, PATCH) is in ``test_api_write.py``.
"""

from __future__ import annotations

import pytest

from incidents.evidence.services import evidence_text_add
from incidents.indicators.services import indicator_add
from incidents.vendors import services as vendor_services
from timeline import services

from ..factories import make_incident

pytestmark = pytest.mark.django_db

READ, WRITE = "incidents:read", "incidents:write"


def url(incident, suffix=""):
    return f"/api/v1/incidents/{incident.reference}/timeline/{suffix}"


def add(incident, actor, title, occurred_at, kind="attacker", **fields):
    return services.event_add(incident=incident, actor=actor, title=title, occurred_at=occurred_at, kind=kind, **fields)


def titles(response):
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


@pytest.fixture
def victor(vendor, northwind):
    """The vendor persona, working for Northwind."""
    vendor.vendor = northwind
    vendor.save(update_fields=["vendor"])
    return vendor


# --- Pages ----------------------------------------------------------------------------------
def test_pages_follow_the_cursor_in_timeline_order(api, lead, incident):
    # Added out of order, in mixed offsets; "Tie A"/"Tie B" share an instant (13:00 UTC) and fall
    # across the first page's boundary, so the cursor must order them by id too.
    add(incident, lead, "Tie B", "2026-03-02T14:00:00+01:00")
    add(incident, lead, "Last", "2026-03-04T09:00:00Z")
    add(incident, lead, "First", "2026-03-01T23:30:00-05:00")  # 04:30 UTC on the 2nd
    add(incident, lead, "Tie A", "2026-03-02T13:00:00Z")
    add(incident, lead, "Second", "2026-03-02T10:15:00+05:30")  # 04:45 UTC
    add(incident, lead, "Day", "2026-03-03", precision="day")
    add(incident, lead, "Tie C", "2026-03-02T18:30:00+05:30")  # 13:00 UTC as well
    client = api(READ, user=lead)

    pages, link = [], url(incident) + "?page_size=3"
    while link:
        response = client.get(link)
        pages.append(titles(response))
        link = response.json()["next"]

    assert pages == [["First", "Second", "Tie B"], ["Tie A", "Tie C", "Day"], ["Last"]]

    # And back: the previous link of the last page is the middle page.
    last = client.get(url(incident) + "?page_size=3").json()["next"]
    last = client.get(last).json()["next"]
    previous = client.get(client.get(last).json()["previous"])
    assert titles(previous) == ["Tie A", "Tie C", "Day"]


def test_a_forged_cursor_is_a_404_not_a_500(api, lead, incident):
    import base64

    add(incident, lead, "First", "2026-03-01T10:00:00Z")
    forged = base64.b64encode(b"p=not-a-time").decode()
    response = api(READ, user=lead).get(url(incident), {"cursor": forged})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def test_page_size_is_capped(api, lead, incident, settings):
    for day in range(1, 6):
        add(incident, lead, f"Day {day}", f"2026-03-0{day}T10:00:00Z")
    response = api(READ, user=lead).get(url(incident), {"page_size": 10_000})
    assert len(response.json()["results"]) == 5  # capped at API_PAGE_SIZE_MAX (200), not refused


def test_list_query_count_does_not_grow_with_events(api, lead, incident, northwind, django_assert_num_queries):
    vendor_services.involvement_add(incident=incident, vendor=northwind, actor=lead)
    evidence = evidence_text_add(incident=incident, actor=lead, name="okta.log", text="sign-in")
    indicator = indicator_add(incident=incident, actor=lead, type="ip", value="45.137.21.9")
    client = api(READ, user=lead)
    client.get(url(incident))  # the key's first use stamps last_used_at (an UPDATE): keep it out

    counts = {}
    for total in (3, 40):
        while incident.timeline_events.count() < total:
            n = incident.timeline_events.count()
            add(
                incident, lead, f"Event {n}", f"2026-03-02T{n % 24:02d}:{n % 60:02d}:00Z",
                evidence=[evidence.pk], indicators=[indicator.pk], vendor=northwind.pk,
                technique="T1078.004",
            )  # fmt: skip
        # 5 queries: 1. the API key with its user (authentication); 2. the incident by reference
        # within what lena may see; 3. the page of events with who recorded them and their vendor
        # joined in (one row more than asked, for the next link); 4. the page's linked evidence
        # and 5. its linked indicators (one prefetch each, for all rows). Technique names come
        # from the in-memory ATT&CK catalogue: nothing per event.
        with django_assert_num_queries(5) as captured:
            response = client.get(url(incident), {"page_size": 50})
        assert len(response.json()["results"]) == total
        counts[total] = len(captured)
    assert counts[3] == counts[40]


# --- What an event says ---------------------------------------------------------------------
def test_an_event_as_the_api_shows_it(api, lead, incident, northwind):
    vendor_services.involvement_add(incident=incident, vendor=northwind, actor=lead)
    evidence = evidence_text_add(incident=incident, actor=lead, name="okta.log", text="sign-in")
    indicator = indicator_add(incident=incident, actor=lead, type="ip", value="45.137.21.9")
    event = add(
        incident,
        lead,
        "Contractor account signs in from a new country",
        "2026-03-02T14:37:21+05:30",
        precision="minute",
        description="Seen in **Okta**.",
        source="Okta system log",
        technique="t1078.004",
        key_event=True,
        evidence=[evidence.pk],
        indicators=[indicator.pk],
        vendor=northwind.pk,
        attributes={"user": "c.jones", "country": "RO"},
    )

    response = api(READ, user=lead).get(url(incident, f"{event.pk}/"))

    assert response.status_code == 200
    body = response.json()
    assert body.pop("recorded_at") and body.pop("updated_at")
    assert body == {
        "id": event.pk,
        "occurred_at": "2026-03-02T14:37:00+05:30",  # truncated to the minute, in its own offset
        "occurred_at_utc": "2026-03-02T09:07:00Z",
        "precision": "minute",
        "kind": "attacker",
        "title": "Contractor account signs in from a new country",
        "description": "Seen in **Okta**.",
        "source": "Okta system log",
        "technique": "T1078.004",
        "technique_name": "Valid Accounts: Cloud Accounts",
        "key_event": True,
        "internal": False,
        "evidence": [evidence.pk],
        "indicators": [indicator.pk],
        "vendor": {"id": northwind.pk, "name": "Northwind MSP"},
        "attributes": {"user": "c.jones", "country": "RO"},
        "recorded_by": "lena",
        "version": 1,
    }


def test_a_date_without_time_is_shown_at_midnight_in_the_timelines_zone(api, lead, incident):
    event = add(incident, lead, "Phishing mail received", "2026-03-02", precision="day", technique="")
    body = api(READ, user=lead).get(url(incident, f"{event.pk}/")).json()
    assert (body["occurred_at"], body["occurred_at_utc"], body["precision"]) == (
        "2026-03-02T00:00:00Z",
        "2026-03-02T00:00:00Z",
        "day",
    )
    assert body["technique"] == "" and body["technique_name"] is None and body["vendor"] is None


# --- Filters --------------------------------------------------------------------------------
def test_filters(api, lead, incident, northwind, contoso):
    for vendor in (northwind, contoso):
        vendor_services.involvement_add(incident=incident, vendor=vendor, actor=lead)
    add(incident, lead, "Cloud login", "2026-03-02T01:00:00Z", technique="T1078.004", vendor=northwind.pk)
    add(incident, lead, "VPN login", "2026-03-02T02:00:00Z", technique="T1078", key_event=True)
    add(incident, lead, "Trust abused", "2026-03-02T03:00:00Z", technique="T1199", vendor=contoso.pk)
    add(incident, lead, "EDR alert", "2026-03-02T04:00:00Z", kind="detection", key_event=True)
    add(incident, lead, "Host isolated", "2026-03-02T05:00:00Z", kind="containment")
    client = api(READ, user=lead)

    def listed(**params):
        return titles(client.get(url(incident), params))

    assert listed(kind=["detection", "containment"]) == ["EDR alert", "Host isolated"]
    assert listed(kind="detection") == ["EDR alert"]
    assert listed(key_event="true") == ["VPN login", "EDR alert"]
    assert listed(key_event="false") == ["Cloud login", "VPN login", "Trust abused", "EDR alert", "Host isolated"]
    assert listed(vendor=northwind.pk) == ["Cloud login"]
    assert listed(technique="T1078") == ["Cloud login", "VPN login"]  # the technique and its sub-techniques
    assert listed(technique="t1078.004") == ["Cloud login"]
    assert listed(kind="attacker", key_event="true") == ["VPN login"]

    bad = client.get(url(incident), {"kind": "lunch"})
    assert bad.status_code == 400
    assert bad.json() == {"kind": {"0": ['"lunch" is not a valid choice.']}}
    assert client.get(url(incident), {"vendor": "abc"}).status_code == 400


# --- Who sees what --------------------------------------------------------------------------
def test_a_vendor_collaborator_sees_neither_internal_events_nor_another_company(
    api, lead, victor, restricted_incident, northwind, contoso
):
    incident = restricted_incident
    for company in (northwind, contoso):
        vendor_services.involvement_add(incident=incident, vendor=company, actor=lead)
    shared_evidence = evidence_text_add(incident=incident, actor=lead, name="vpn.log", text="a", internal=False)
    internal_evidence = evidence_text_add(incident=incident, actor=lead, name="hr.txt", text="b", internal=True)
    internal = add(incident, lead, "Suspect named by HR", "2026-03-02T01:00:00Z", internal=True)
    ours = add(incident, lead, "Northwind token used", "2026-03-02T02:00:00Z", internal=False, vendor=northwind.pk)
    theirs = add(
        incident, lead, "Contoso imaging", "2026-03-02T03:00:00Z", internal=False, vendor=contoso.pk,
        evidence=[shared_evidence.pk, internal_evidence.pk],
    )  # fmt: skip
    client = api(READ, user=victor)

    listed = client.get(url(incident)).json()["results"]
    assert [(row["title"], row["vendor"], row["evidence"]) for row in listed] == [
        ("Northwind token used", {"id": northwind.pk, "name": "Northwind MSP"}, []),
        ("Contoso imaging", None, [shared_evidence.pk]),
    ]
    assert all(row["internal"] is False for row in listed)
    assert client.get(url(incident, f"{internal.pk}/")).status_code == 404
    assert client.get(url(incident, f"{theirs.pk}/")).json()["vendor"] is None
    # Asking which events name another company finds none (not even the one that does).
    assert titles(client.get(url(incident), {"vendor": contoso.pk})) == []
    assert titles(client.get(url(incident), {"vendor": northwind.pk})) == ["Northwind token used"]

    # Staff see all three, with every link.
    staff = api(READ, user=lead).get(url(incident)).json()["results"]
    assert [row["title"] for row in staff] == ["Suspect named by HR", "Northwind token used", "Contoso imaging"]
    assert staff[2]["evidence"] == sorted([shared_evidence.pk, internal_evidence.pk])
    assert staff[2]["vendor"] == {"id": contoso.pk, "name": "Contoso Forensics"}
    assert ours.pk == staff[1]["id"]


def test_an_outsider_gets_404_on_a_restricted_incident(api, lead, outsider, restricted_incident):
    event = add(restricted_incident, lead, "Model weights pulled", "2026-03-02T01:00:00Z")
    client = api(READ, WRITE, user=outsider)
    assert client.get(url(restricted_incident)).status_code == 404
    assert client.get(url(restricted_incident, f"{event.pk}/")).status_code == 404
    assert client.patch(url(restricted_incident, f"{event.pk}/"), {"title": "x"}, format="json").status_code == 404
    response = client.post(
        url(restricted_incident),
        {"occurred_at": "2026-03-02T01:00:00Z", "kind": "attacker", "title": "x"},
        format="json",
    )
    assert response.status_code == 404


def test_an_event_of_another_incident_is_a_404(api, lead, incident):
    other = make_incident(opened_by=lead, lead=lead, title="Another case")
    event = add(other, lead, "Elsewhere", "2026-03-02T01:00:00Z")
    client = api(READ, user=lead)
    assert client.get(url(incident, f"{event.pk}/")).status_code == 404
    assert client.get(url(other, f"{event.pk}/")).status_code == 200
    assert client.get(url(incident, "99999999999999999999/")).status_code == 404


def test_an_executive_reads_the_timeline(api, lead, executive, incident):
    add(incident, lead, "EDR alert", "2026-03-02T04:00:00Z", kind="detection")
    assert titles(api(READ, user=executive).get(url(incident))) == ["EDR alert"]


def test_reading_needs_the_read_scope(api, lead, incident):
    response = api(WRITE, user=lead).get(url(incident))
    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the 'incidents:read' scope."}
