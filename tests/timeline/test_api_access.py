"""The timeline API, who may write: an executive reads only (403), a contributor changes only the
events they recorded, a vendor collaborator links only their own company and never makes an
event internal, an integration's key posts events (a write-only key learns only the ids).
Who may read is in ``test_api.py``.
"""

from __future__ import annotations

import pytest

from incidents.evidence.services import evidence_text_add
from incidents.vendors import services as vendor_services
from timeline import services
from timeline.models import TimelineEvent

from .test_api_write import READ, WRITE, body_date, event_rows, url

pytestmark = pytest.mark.django_db


# --- Who may --------------------------------------------------------------------------------
def test_an_executive_may_not_write(api, lead, executive, incident):
    event = services.event_add(
        incident=incident, actor=lead, occurred_at="2026-03-02T14:05:00Z", kind="attacker", title="Token used"
    )
    client = api(READ, WRITE, user=executive)
    body = {"occurred_at": "2026-03-02T15:00:00Z", "kind": "detection", "title": "Alert"}
    assert client.post(url(incident), body, format="json").status_code == 403
    assert client.post(url(incident), [body], format="json").status_code == 403
    assert client.patch(url(incident, f"{event.pk}/"), {"title": "x"}, format="json").status_code == 403
    assert event_rows(incident) == [("Token used", "attacker", body_date("2026-03-02"), "")]


def test_a_contributor_changes_only_their_own_events(api, lead, responder, incident):
    # ravi is not a member of this unrestricted incident: a writer, who may add but not edit others'.
    theirs = services.event_add(
        incident=incident, actor=lead, occurred_at="2026-03-02T14:05:00Z", kind="attacker", title="Token used"
    )
    client = api(READ, WRITE, user=responder)
    mine = client.post(
        url(incident), {"occurred_at": "2026-03-02T15:00:00Z", "kind": "detection", "title": "Alert"}, format="json"
    )
    assert mine.status_code == 201
    refused = client.patch(url(incident, f"{theirs.pk}/"), {"title": "Mine now"}, format="json")
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "You may only change timeline events you recorded."},
    )
    own = client.patch(url(incident, f"{mine.json()['id']}/"), {"title": "EDR alert"}, format="json")
    assert (own.status_code, own.json()["title"]) == (200, "EDR alert")


def test_a_vendor_collaborator_links_only_their_own_company(api, lead, vendor, restricted_incident, northwind, contoso):
    vendor.vendor = northwind
    vendor.save(update_fields=["vendor"])
    incident = restricted_incident
    for company in (northwind, contoso):
        vendor_services.involvement_add(incident=incident, vendor=company, actor=lead)
    internal_evidence = evidence_text_add(incident=incident, actor=lead, name="hr.txt", text="b", internal=True)
    client = api(READ, WRITE, user=vendor)
    base = {"occurred_at": "2026-03-02T14:05:00Z", "kind": "vendor", "title": "Token rotated"}

    refused = client.post(
        url(incident), {**base, "vendor": contoso.pk, "evidence": [internal_evidence.pk]}, format="json"
    )

    assert refused.status_code == 400
    assert refused.json() == {
        "evidence": [f"No evidence {internal_evidence.pk} on this incident."],
        "vendor": [f"Vendor {contoso.pk} is not involved in this incident."],
    }
    created = client.post(url(incident), {**base, "vendor": northwind.pk}, format="json")
    assert created.status_code == 201
    # What a vendor collaborator adds is never internal (they would not see their own work).
    assert (created.json()["internal"], created.json()["vendor"]) == (
        False,
        {"id": northwind.pk, "name": "Northwind MSP"},
    )
    made_internal = client.patch(url(incident, f"{created.json()['id']}/"), {"internal": True}, format="json")
    assert made_internal.status_code == 403


def test_an_integration_key_posts_events(api, incident):
    client = api(WRITE)  # write-only: learns the ids it wrote and nothing else
    single = client.post(
        url(incident),
        {"occurred_at": "2026-03-02T14:05:00Z", "kind": "detection", "title": "SIEM alert"},
        format="json",
    )
    assert (single.status_code, single.json()) == (201, {"id": TimelineEvent.objects.get().pk})
    batch = client.post(
        url(incident),
        [{"occurred_at": "2026-03-02T14:06:00Z", "kind": "detection", "title": "Second alert"}, {"kind": "x"}],
        format="json",
    )
    assert batch.status_code == 207
    rows = batch.json()["results"]
    assert [(row["status"], row["event"]) for row in rows] == [("created", None), ("error", None)]
    assert rows[0]["id"] == TimelineEvent.objects.get(title="Second alert").pk
    assert TimelineEvent.objects.get(title="SIEM alert").recorded_by.username == "api:siem"
    assert client.get(url(incident)).status_code == 403
