"""Correlation: the other incidents with the same normalized value, only those the viewer may
see (and, for a vendor collaborator, only through indicators shared with them there); one query
for the whole page whatever the number of indicators."""

from __future__ import annotations

import pytest

from incidents import services as case_services
from incidents.indicators import services
from incidents.models import MemberRole

from ..factories import make_incident

pytestmark = pytest.mark.django_db

C2 = "45.137.21.9"


def add(incident, actor, value=C2, kind="ip", **fields):
    return services.indicator_add(incident=incident, actor=actor, type=kind, value=value, **fields)


def sightings_on_page(client, incident) -> dict[str, list[str]]:
    response = client.get(incident.get_absolute_url())
    assert response.status_code == 200
    return {i.value: [s.reference for s in i.sightings] for i in response.context["indicators"].items}


def test_the_page_links_other_incidents_with_the_same_value(login, lead, incident):
    other = make_incident(opened_by=lead, lead=lead, title="Ransomware on the file server")
    add(incident, lead, "45[.]137[.]21[.]9")  # defanged here, plain there: the same value
    add(other, lead, C2)
    add(incident, lead, "only-here.example", kind="domain")
    client = login(lead)
    assert sightings_on_page(client, incident) == {C2: [other.reference], "only-here.example": []}
    body = client.get(incident.get_absolute_url()).content.decode()
    assert f'href="/incidents/{other.reference}/"' in body and "1 shared" in body


def test_a_restricted_incident_is_never_shown_to_those_who_may_not_see_it(
    login, lead, responder, outsider, restricted_incident
):
    mine = make_incident(opened_by=outsider, lead=None, title="Suspicious login")
    add(restricted_incident, lead, C2)
    add(mine, outsider, C2)
    assert sightings_on_page(login(outsider), mine) == {C2: []}
    # A member of the restricted incident sees the link.
    assert sightings_on_page(login(responder), mine) == {C2: [restricted_incident.reference]}


def test_a_vendor_sees_only_incidents_they_are_on_and_only_shared_indicators_there(
    login, lead, vendor, restricted_incident
):
    second = make_incident(opened_by=lead, lead=lead, title="Contractor laptop", restricted=True)
    third = make_incident(opened_by=lead, lead=lead, title="Unrelated, unrestricted")
    case_services.member_add(incident=second, user=vendor, actor=lead, role=MemberRole.RESPONDER)
    add(restricted_incident, lead, C2, internal=False)
    add(second, lead, C2, internal=True)  # internal there: not a link for the vendor
    add(third, lead, C2, internal=False)  # not invited there
    assert sightings_on_page(login(vendor), restricted_incident) == {C2: []}
    # Staff see both.
    assert sorted(sightings_on_page(login(lead), restricted_incident)[C2]) == sorted(
        [second.reference, third.reference]
    )


def test_an_internal_indicator_is_not_correlated_for_a_vendor_on_their_own_incident(
    login, lead, vendor, restricted_incident
):
    other = make_incident(opened_by=lead, lead=lead, title="Other", restricted=True)
    case_services.member_add(incident=other, user=vendor, actor=lead, role=MemberRole.RESPONDER)
    add(restricted_incident, lead, C2, internal=True)
    add(other, lead, C2, internal=False)
    assert sightings_on_page(login(vendor), restricted_incident) == {}
    assert sightings_on_page(login(vendor), other) == {C2: []}


@pytest.mark.parametrize("count", [1, 20])
def test_the_page_costs_the_same_queries_with_1_or_20_indicators(
    login, lead, incident, count, django_assert_num_queries
):
    others = [make_incident(opened_by=lead, lead=lead, title=f"Other {n}") for n in range(3)]
    for n in range(count):
        value = f"45.137.21.{n + 1}"
        add(incident, lead, value)
        for other in others:
            add(other, lead, value)
    client = login(lead)
    # Exactly 24 whatever the number of indicators and of incidents sharing them: the page of
    # tests/incidents/test_views.py less the task notes (no tasks here, so no notes query) is
    # 12 with the indicators, and 13 their correlations: one query for all of them, through the
    # (type, value) index; 14 the vendors on the incident, 15 the vendor add form's choices
    # (tests/incidents/test_views.py), 16 the affected scope rows, 17-19 the timeline's
    # milestones, key events and count, 20 the paging state, 21-24 the notification register's
    # decisions, regimes, clocks and notices.
    with django_assert_num_queries(24):
        response = client.get(incident.get_absolute_url())
    items = response.context["indicators"].items
    assert len(items) == count
    assert all(len(item.sightings) == 3 for item in items)


@pytest.mark.parametrize("count", [1, 20])
def test_the_api_list_costs_the_same_queries_with_1_or_20_indicators(
    api, lead, incident, count, django_assert_num_queries
):
    other = make_incident(opened_by=lead, lead=lead, title="Other")
    for n in range(count):
        add(incident, lead, f"45.137.21.{n + 1}")
        add(other, lead, f"45.137.21.{n + 1}")
    client = api("incidents:read", user=lead)
    url = f"/api/v1/incidents/{incident.reference}/indicators/"
    client.get(url)  # the key's first use stamps last_used_at
    # 1 the key with its user, 2 the visible incident, 3 the page's correlations, 4 one page of
    # indicators with who added them.
    with django_assert_num_queries(4):
        response = client.get(url)
    rows = response.json()["results"]
    assert len(rows) == count
    assert all(row["also_in"][0]["reference"] == other.reference for row in rows)
