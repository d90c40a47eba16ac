"""Who sees what: the one visibility selector every surface uses."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from incidents.selectors import incidents_visible_to

pytestmark = pytest.mark.django_db


def visible(user) -> set[str]:
    return set(incidents_visible_to(user).values_list("title", flat=True))


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


def test_visibility_does_not_duplicate_rows(lead, responder, restricted_incident):
    # Several memberships on one incident must not multiply it in lists.
    assert incidents_visible_to(responder).count() == 1
