"""Who sees what: the one visibility selector every surface uses."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from incidents.selectors import incidents_visible_to

pytestmark = pytest.mark.django_db


def visible(user) -> set[str]:
    titles = list(incidents_visible_to(user).values_list("title", flat=True))
    assert len(titles) == len(set(titles)), f"duplicate rows: {titles}"
    return set(titles)


PUBLIC = "Phishing wave against finance"
SECRET = "Internal AI model exfiltrated via contractor"


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("admin", {PUBLIC, SECRET}),
        ("lead", {PUBLIC, SECRET}),  # member (lead) of both
        ("responder", {PUBLIC, SECRET}),  # member of the restricted one
        ("executive", {PUBLIC}),
        ("outsider", {PUBLIC}),
        ("vendor", {SECRET}),  # invited to the restricted one only
    ],
)
def test_visibility_by_persona(request, incident, restricted_incident, persona, expected):
    assert visible(request.getfixturevalue(persona)) == expected


def test_anonymous_and_inactive_users_see_nothing(incident, restricted_incident, responder):
    assert visible(AnonymousUser()) == set()
    responder.is_active = False
    responder.save()
    assert visible(responder) == set()


def test_membership_makes_a_restricted_incident_visible(lead, outsider, restricted_incident):
    from incidents import services

    assert SECRET not in visible(outsider)
    services.member_add(incident=restricted_incident, user=outsider, actor=lead)
    assert SECRET in visible(outsider)


@pytest.mark.parametrize("persona", ["admin", "lead", "responder", "executive", "outsider", "vendor"])
def test_visibility_does_not_duplicate_rows(
    request, lead, responder, executive, incident, restricted_incident, persona
):
    # Several memberships on each incident, restricted and not, must not multiply rows: compare
    # lists (a set would hide a duplicate) and the database's own count.
    from incidents import services

    services.member_add(incident=incident, user=responder, actor=lead)
    services.member_add(incident=incident, user=executive, actor=lead, role="observer")
    user = request.getfixturevalue(persona)
    expected = {
        "admin": [restricted_incident.reference, incident.reference],
        "lead": [restricted_incident.reference, incident.reference],
        "responder": [restricted_incident.reference, incident.reference],
        "executive": [incident.reference],
        "outsider": [incident.reference],
        "vendor": [restricted_incident.reference],
    }[persona]
    rows = incidents_visible_to(user)
    assert list(rows.values_list("reference", flat=True)) == expected
    assert rows.count() == len(expected)
