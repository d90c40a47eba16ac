"""Adding and editing timeline events in place on the timeline page (htmx, and plain posts for
browsers without it): the success paths with their 400/403/404/409 cases side by side."""

from __future__ import annotations

import html
import re
from datetime import UTC

import pytest
from django.urls import reverse

from incidents import services as case_services
from incidents.evidence import services as evidence
from incidents.models import Activity, MemberRole
from incidents.vendors import services as vendors
from tests.factories import UserFactory, make_incident
from timeline.models import TimelineEvent

from .page_support import HTMX, add, add_many, page_url, text, titles

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(lead, responder, incident):
    case_services.member_add(incident=incident, user=responder, actor=lead)
    return responder


def add_url(incident, query=""):
    url = reverse("timeline:add", args=[incident.reference])
    return f"{url}?{query}" if query else url


def edit_url(event, query=""):
    url = reverse("timeline:edit", args=[event.incident.reference, event.pk])
    return f"{url}?{query}" if query else url


def posted(**changes):
    data = {
        "occurred_at": "2026-03-02T14:05",
        "zone": "UTC",
        "precision": "minute",
        "kind": "attacker",
        "title": "VPN sign-in with the contractor's token",
        "description": "",
        "source": "VPN log",
        "technique": "T1078.004",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def stored(event_or_title):
    event = (
        TimelineEvent.objects.get(title=event_or_title)
        if isinstance(event_or_title, str)
        else TimelineEvent.objects.get(pk=event_or_title.pk)
    )
    return {
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
        "offset": event.occurred_offset,
        "precision": event.precision,
        "kind": event.kind,
        "title": event.title,
        "technique": event.technique,
        "key_event": event.key_event,
        "internal": event.internal,
        "recorded_by": event.recorded_by.username if event.recorded_by else None,
        "version": event.version,
    }


def hidden_value(page, name):
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    return html.unescape(match[1]) if match else None


def field_value(page, name):
    match = re.search(rf'<input type="text" name="{name}"[^>]*?(?: value="([^"]*)")?[^>]*>', page)
    return match[1] if match else None


# --- Adding ----------------------------------------------------------------------------------
def test_htmx_add_shows_the_event_and_resets_the_form(login, member, incident):
    client = login(member)
    assert TimelineEvent.objects.count() == 0

    response = client.post(add_url(incident), posted(key_event="on", zone="Asia/Kolkata"), **HTMX)

    assert response.status_code == 200
    assert stored("VPN sign-in with the contractor's token") == {
        "occurred_at": "2026-03-02T08:35:00+00:00",
        "offset": 330,
        "precision": "minute",
        "kind": "attacker",
        "title": "VPN sign-in with the contractor's token",
        "technique": "T1078.004",
        "key_event": True,
        "internal": False,
        "recorded_by": member.username,
        "version": 1,
    }
    part = response.content.decode()
    assert 'id="event-add-form"' in part
    assert field_value(part, "title") is None  # reset: no value
    assert 'id="timeline-events" class="timeline" aria-live="polite" hx-swap-oob="true"' in part
    assert titles(part) == ["VPN sign-in with the contractor's token"]
    assert "Added “VPN sign-in with the contractor's token” (2 Mar 2026, 08:35)." in text(part)
    assert "08:35 +00:00" not in part and "14:05 +05:30 at source" in part
    entry = Activity.objects.filter(incident=incident).latest("pk")
    assert (entry.verb, entry.actor) == ("timeline_event_added", member)


@pytest.mark.parametrize(
    ("fields", "expected_at", "expected_offset"),
    [
        ({"zone": "+05:30"}, "2026-03-02T08:35:00+00:00", 330),
        ({"zone": "America/New_York"}, "2026-03-02T19:05:00+00:00", -300),
        ({"precision": "exact", "occurred_at": "2026-03-02T14:05:33"}, "2026-03-02T14:05:33+00:00", 0),
        ({"precision": "hour"}, "2026-03-02T14:00:00+00:00", 0),
        # To the day: the date as written, at 00:00 in the timeline's zone, no source clock.
        (
            {"precision": "day", "zone": "Asia/Tokyo", "occurred_at": "2026-03-02T23:50"},
            "2026-03-02T00:00:00+00:00",
            None,
        ),
    ],
)
def test_the_time_is_read_in_the_chosen_zone_at_its_precision(
    login, member, incident, fields, expected_at, expected_offset
):
    login(member).post(add_url(incident), posted(**fields), **HTMX)

    event = stored("VPN sign-in with the contractor's token")
    assert (event["occurred_at"], event["offset"]) == (expected_at, expected_offset)


def test_a_plain_post_is_redirected_to_the_event(login, member, incident):
    response = login(member).post(add_url(incident, "key=on"), posted(key_event="on"))

    event = TimelineEvent.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page_url(incident, "key=on") + f"#event-{event.pk}"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"technique": "T1199.001"}, "technique", "T1199.001 is not a technique in ATT&CK Enterprise 18.1."),
        ({"technique": "lateral"}, "technique", "Enter an ATT&CK technique id such as T1199 or T1078.004."),
        ({"occurred_at": "2099-01-01T00:00"}, "occurred_at", "A timeline event cannot be in the future."),
        ({"occurred_at": "yesterday"}, "occurred_at", "Enter a date and time, e.g. 2026-03-02 14:05."),
        ({"occurred_at": ""}, "occurred_at", "This field is required."),
        (
            {"zone": "Mars/Olympus_Mons"},
            "zone",
            "Select a valid choice. Mars/Olympus_Mons is not one of the available choices.",
        ),
        ({"title": ""}, "title", "This field is required."),
        ({"kind": "rumour"}, "kind", "Select a valid choice. rumour is not one of the available choices."),
        ({"precision": "roughly"}, "precision", "Select a valid choice. roughly is not one of the available choices."),
        ({"evidence": "99999"}, "evidence", "Select a valid choice. 99999 is not one of the available choices."),
        ({"vendor": "abc"}, "vendor", "Select a valid choice. abc is not one of the available choices."),
    ],
)
def test_a_refused_add_is_400_with_the_message_beside_its_field(login, member, incident, fields, field, message):
    response = login(member).post(add_url(incident), posted(**fields), **HTMX)

    assert response.status_code == 400
    part = response.content.decode()
    error = re.search(rf'<p class="error" id="event-add-{field}-error">(.*?)</p>', part)
    assert error and text(error[1]) == message
    assert "hx-swap-oob" not in part
    assert TimelineEvent.objects.count() == 0


def test_evidence_of_another_incident_cannot_be_linked(login, lead, member, incident):
    other = make_incident(opened_by=lead, lead=lead, title="Another case")
    elsewhere = evidence.evidence_text_add(incident=other, actor=lead, name="other.log", text="x")
    here = evidence.evidence_text_add(incident=incident, actor=lead, name="here.log", text="y")
    client = login(member)

    refused = client.post(add_url(incident), posted(evidence=str(elsewhere.pk)), **HTMX)
    accepted = client.post(add_url(incident), posted(evidence=str(here.pk)), **HTMX)

    assert refused.status_code == 400
    assert accepted.status_code == 200
    assert list(TimelineEvent.objects.get().evidence.values_list("name", flat=True)) == ["here.log"]


def test_a_plain_refused_add_shows_the_page_with_the_errors(login, member, incident):
    response = login(member).post(add_url(incident), posted(technique="T1199.001"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "Attack timeline" in page
    assert "T1199.001 is not a technique in ATT&amp;CK Enterprise 18.1." in page


def test_who_may_add(login, lead, executive, outsider, restricted_incident, incident):
    watcher = UserFactory(username="olga")
    case_services.member_add(incident=incident, user=watcher, actor=lead, role=MemberRole.OBSERVER)

    assert login(executive).post(add_url(incident), posted(), **HTMX).status_code == 403
    assert login(watcher).post(add_url(incident), posted(), **HTMX).status_code == 403
    assert login(outsider).post(add_url(restricted_incident), posted(), **HTMX).status_code == 404
    assert login(outsider).get(add_url(incident)).status_code == 405
    assert TimelineEvent.objects.count() == 0


def test_a_vendor_collaborator_adds_a_shared_event_naming_only_their_company(
    login, lead, admin, vendor, restricted_incident
):
    incident = restricted_incident
    northwind = vendors.vendor_create(actor=admin, name="Northwind MSP")
    contoso = vendors.vendor_create(actor=admin, name="Contoso Forensics")
    vendor.vendor = northwind
    vendor.save()
    for company in (northwind, contoso):
        vendors.involvement_add(incident=incident, vendor=company, actor=lead)
    client = login(vendor)

    page = client.get(page_url(incident)).content.decode()
    form = page.split('id="event-add-form"')[1].split("</form>")[0]
    assert 'name="internal"' not in form
    assert "Northwind MSP" in form and "Contoso" not in form
    refused = client.post(add_url(incident), posted(vendor=str(contoso.pk), internal="on"), **HTMX)
    accepted = client.post(add_url(incident), posted(vendor=str(northwind.pk), internal="on"), **HTMX)

    assert refused.status_code == 400
    assert accepted.status_code == 200
    event = TimelineEvent.objects.get()
    assert (event.internal, event.vendor_id) == (False, northwind.pk)
    # On a restricted incident staff add internal events unless they untick it.
    staff = login(lead).get(page_url(incident)).content.decode()
    assert re.search(r'<input type="checkbox" name="internal"[^>]*checked', staff)


def test_an_event_added_beyond_the_first_page_is_linked_and_a_filtered_out_one_said_so(login, member, incident):
    add_many(incident, member, 100)  # 1 Feb 2026 00:00 … 01:39
    client = login(member)

    later = client.post(add_url(incident), posted(title="Much later"), **HTMX).content.decode()
    hidden = client.post(add_url(incident, "key=on"), posted(title="Not a key event"), **HTMX).content.decode()

    late = TimelineEvent.objects.get(title="Much later")
    link = re.search(r"Show it", later) and re.search(r'<a href="([^"]+)">Show it</a>', later)[1].replace("&amp;", "&")
    assert link.endswith(f"#event-{late.pk}") and "after=" in link
    assert titles(client.get(link).content.decode())[0] == "Much later"
    assert "The filters hide it." in text(hidden)


# --- Editing ---------------------------------------------------------------------------------
@pytest.fixture
def event(incident, member):
    return add(
        incident, member, "VPN sign-in", "2026-03-02T14:05:09.250000+05:30", precision="exact", technique="T1078"
    )


def edit_form(event, **changes):
    data = posted(
        occurred_at="2026-03-02T14:05:09",
        zone="+05:30",
        precision="exact",
        title=event.title,
        source="",
        technique=event.technique,
        version=str(event.version),
    )
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_edit_form_replaces_the_row_in_the_sources_clock(login, member, event):
    response = login(member).get(edit_url(event), **HTMX)

    assert response.status_code == 200
    part = response.content.decode()
    assert part.lstrip().startswith(f'<li class="event editing" id="event-{event.pk}">')
    assert 'value="2026-03-02T14:05:09"' in part
    assert re.search(r'<option value="\+05:30" selected>UTC\+05:30</option>', part)
    assert '<input type="hidden" name="version" value="1"' in part


def test_htmx_edit_saves_and_swaps_the_row_back(login, member, event):
    before = stored(event)

    response = login(member).post(
        edit_url(event), edit_form(event, title="VPN sign-in from Mumbai", key_event="on"), **HTMX
    )

    assert response.status_code == 200
    part = response.content.decode()
    assert part.lstrip().startswith(f'<li class="event kind-attacker key is-new" id="event-{event.pk}"')
    assert titles(part) == ["VPN sign-in from Mumbai"]
    assert "Saved." in part
    after = stored(event)
    assert before["occurred_at"] == after["occurred_at"] == "2026-03-02T08:35:09.250000+00:00"  # time not re-placed
    assert (after["title"], after["key_event"], after["version"]) == ("VPN sign-in from Mumbai", True, 2)


def test_changing_the_time_places_it_again(login, member, event):
    response = login(member).post(
        edit_url(event), edit_form(event, occurred_at="2026-03-03T10:00", zone="UTC", precision="hour"), **HTMX
    )

    assert response.status_code == 200
    assert (stored(event)["occurred_at"], stored(event)["offset"], stored(event)["precision"]) == (
        "2026-03-03T10:00:00+00:00",
        0,
        "hour",
    )
    assert "it moves to 3 March 2026 when the page is reloaded" in text(response.content.decode())


def test_a_stale_edit_is_409_keeps_both_changes_and_saving_again_is_deliberate(login, member, lead, event):
    from timeline import services

    client = login(member)
    opened = client.get(edit_url(event), **HTMX).content.decode()
    form = edit_form(event, title="Mine", opened=hidden_value(opened, "opened"))
    services.event_update(event=TimelineEvent.objects.get(pk=event.pk), actor=lead, data={"source": "Theirs"})

    response = client.post(edit_url(event), form, **HTMX)

    assert response.status_code == 409
    part = response.content.decode()
    assert (
        "Someone changed this event since you opened it (now version 2): they changed Source. Nothing was saved. "
        "The form shows the event as it is now with your changes on top"
    ) in text(part)
    assert (stored(event)["title"], stored(event)["version"]) == ("VPN sign-in", 2)
    assert field_value(part, "title") == "Mine" and field_value(part, "source") == "Theirs"
    assert hidden_value(part, "version") == "2"
    again = client.post(
        edit_url(event),
        {**form, "source": "Theirs", "version": "2", "opened": hidden_value(part, "opened")},
        **HTMX,
    )
    assert again.status_code == 200
    assert (stored(event)["title"], stored(event)["version"]) == ("Mine", 3)
    assert TimelineEvent.objects.get(pk=event.pk).source == "Theirs"


def test_a_stale_form_without_what_it_opened_keeps_everything_typed(login, member, lead, event):
    from timeline import services

    services.event_update(event=TimelineEvent.objects.get(pk=event.pk), actor=lead, data={"source": "Theirs"})

    response = login(member).post(edit_url(event), edit_form(event, title="Mine"), **HTMX)

    assert response.status_code == 409
    part = response.content.decode()
    assert field_value(part, "title") == "Mine" and field_value(part, "source") is None


def test_a_refused_edit_is_400_with_the_message(login, member, event):
    response = login(member).post(edit_url(event), edit_form(event, technique="T1199.001"), **HTMX)

    assert response.status_code == 400
    assert "T1199.001 is not a technique in ATT&amp;CK Enterprise 18.1." in response.content.decode()
    assert stored(event)["version"] == 1


def test_who_may_edit(login, lead, member, executive, outsider, incident, event):
    writer = UserFactory(username="wanda")  # a responder who is not a member: a writer here
    own = add(incident, writer, "Wanda's note", "2026-03-01T08:00:00Z")

    assert login(lead).get(edit_url(event), **HTMX).status_code == 200  # EDIT_TIMELINE: anyone's
    assert login(writer).get(edit_url(own), **HTMX).status_code == 200  # own, under CONTRIBUTE
    assert login(writer).get(edit_url(event), **HTMX).status_code == 403
    assert login(writer).post(edit_url(event), edit_form(event, title="Hijacked"), **HTMX).status_code == 403
    assert login(executive).post(edit_url(event), edit_form(event, title="Hijacked"), **HTMX).status_code == 403
    restricted = make_incident(opened_by=lead, lead=lead, restricted=True, title="Need to know")
    hidden = add(restricted, lead, "Secret", "2026-03-01T08:00:00Z")
    assert login(outsider).get(edit_url(hidden), **HTMX).status_code == 404
    assert login(member).get(reverse("timeline:edit", args=[incident.reference, hidden.pk]), **HTMX).status_code == 404
    assert stored(event)["title"] == "VPN sign-in"
    page = login(writer).get(page_url(incident)).content.decode()
    assert f'href="{edit_url(own)}"' in page and f'href="{edit_url(event)}"' not in page


def test_a_vendor_collaborator_cannot_open_an_internal_event(login, lead, vendor, restricted_incident):
    secret = add(restricted_incident, lead, "Suspect named", "2026-03-01T08:00:00Z", internal=True)
    theirs = add(restricted_incident, vendor, "Our token revoked", "2026-03-01T09:00:00Z")

    assert login(vendor).get(edit_url(secret), **HTMX).status_code == 404
    assert login(vendor).post(edit_url(theirs), edit_form(theirs, occurred_at=None), **HTMX).status_code == 400
    response = login(vendor).post(
        edit_url(theirs),
        edit_form(theirs, occurred_at="2026-03-01T09:00:00", zone="UTC", title="Token revoked"),
        **HTMX,
    )
    assert response.status_code == 200 and stored(theirs)["title"] == "Token revoked"


def test_cancel_gives_the_row_back(login, member, event):
    response = login(member).get(edit_url(event, "cancel=1"), **HTMX)

    assert response.status_code == 200
    assert titles(response.content.decode()) == ["VPN sign-in"]
    assert "<form" not in response.content.decode()


def test_without_htmx_the_edit_form_opens_in_the_page_and_a_save_redirects(login, member, event):
    client = login(member)

    page = client.get(edit_url(event)).content.decode()
    assert "Attack timeline" in page and f'<li class="event editing" id="event-{event.pk}">' in page
    response = client.post(edit_url(event), edit_form(event, title="Renamed"))

    assert response.status_code == 302
    assert response["Location"] == page_url(event.incident) + f"#event-{event.pk}"
    assert stored(event)["title"] == "Renamed"


def test_an_event_id_out_of_range_is_404(login, member, incident):
    url = reverse("timeline:edit", args=[incident.reference, 99999999999999999999])

    assert login(member).get(url, **HTMX).status_code == 404
