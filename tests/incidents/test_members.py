"""The members panel: the incident's lead (and admins) manage who works on a case, in place."""

from __future__ import annotations

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Activity, Incident, Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def roles(incident: Incident) -> dict[str, str]:
    return dict(Membership.objects.filter(incident=incident).values_list("user__username", "role"))


def add_url(incident: Incident) -> str:
    return reverse("incidents:member-add", args=[incident.reference])


def role_url(incident: Incident, user) -> str:
    return reverse("incidents:member-role", args=[incident.reference, user.pk])


def remove_url(incident: Incident, user) -> str:
    return reverse("incidents:member-remove", args=[incident.reference, user.pk])


def test_the_lead_adds_a_member_in_place_and_is_told_they_now_see_a_restricted_incident(
    login, lead, outsider, restricted_incident
):
    client = login(lead)
    page = client.get(restricted_incident.get_absolute_url()).content.decode()
    assert "This incident is restricted: the person you add will see it" in page
    response = client.post(
        add_url(restricted_incident), {"user": outsider.pk, "role": "observer"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card" id="members-panel">')
    assert f"Added {outsider} as observer. They can now see this restricted incident." in body
    assert roles(restricted_incident) == {
        "lena": "lead",
        "ravi": "responder",
        "victor": "responder",
        "otto": "observer",
    }
    entry = Activity.objects.filter(incident=restricted_incident, verb="member_added").first()
    assert (entry.actor, entry.data["username"], entry.data["role"], entry.internal) == (lead, "otto", "observer", True)
    # And they do now see it.
    assert login(outsider).get(restricted_incident.get_absolute_url()).status_code == 200


def test_an_executive_cannot_be_added_as_a_responder(login, lead, executive, incident):
    response = login(lead).post(add_url(incident), {"user": executive.pk, "role": "responder"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "Executives read incidents: add them as observers." in response.content.decode()
    assert roles(incident) == {"lena": "lead"}


def test_an_existing_member_is_not_offered_and_cannot_be_added_twice(login, lead, responder, incident):
    services.member_add(incident=incident, user=responder, actor=lead)
    client = login(lead)
    form = client.get(incident.get_absolute_url()).context["member_form"]
    assert "ravi" not in [user.username for user in form.fields["user"].queryset]
    response = client.post(add_url(incident), {"user": responder.pk, "role": "observer"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert roles(incident) == {"lena": "lead", "ravi": "responder"}


def test_changing_a_role_and_handing_over_the_lead(login, lead, incident):
    deputy = UserFactory(username="dana", role="lead")
    services.member_add(incident=incident, user=deputy, actor=lead)
    client = login(lead)
    demoted = client.post(role_url(incident, deputy), {"role": "observer"}, HTTP_HX_REQUEST="true")
    assert demoted.status_code == 200
    assert roles(incident) == {"lena": "lead", "dana": "observer"}
    handed = client.post(role_url(incident, deputy), {"role": "lead"}, follow=True)
    assert f"{deputy} now leads {incident.reference}." in handed.content.decode()
    incident.refresh_from_db()
    assert (incident.lead, incident.version) == (deputy, 2)
    assert roles(incident) == {"lena": "responder", "dana": "lead"}


def test_a_responder_cannot_be_made_the_lead(login, lead, responder, incident):
    services.member_add(incident=incident, user=responder, actor=lead)
    response = login(lead).post(role_url(incident, responder), {"role": "lead"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "ravi cannot lead incidents: only incident leads and admins can." in response.content.decode()
    incident.refresh_from_db()
    assert incident.lead.username == "lena"


def test_removing_a_member_and_not_the_lead(login, lead, outsider, restricted_incident):
    client = login(lead)
    services.member_add(incident=restricted_incident, user=outsider, actor=lead, role="observer")
    removed = client.post(remove_url(restricted_incident, outsider), HTTP_HX_REQUEST="true")
    assert f"Removed {outsider}. They can no longer see this restricted incident." in removed.content.decode()
    assert "otto" not in roles(restricted_incident)
    assert login(outsider).get(restricted_incident.get_absolute_url()).status_code == 404
    client = login(lead)
    refused = client.post(remove_url(restricted_incident, lead), HTTP_HX_REQUEST="true")
    assert refused.status_code == 400
    assert roles(restricted_incident)["lena"] == "lead"


@pytest.mark.parametrize("persona", ["responder", "vendor"])
def test_members_working_the_case_cannot_manage_access(request, login, lead, outsider, restricted_incident, persona):
    client = login(request.getfixturevalue(persona))
    page = client.get(restricted_incident.get_absolute_url())
    assert page.context["member_form"] is None
    assert "Add member" not in page.content.decode()
    before = roles(restricted_incident)
    assert client.post(add_url(restricted_incident), {"user": outsider.pk, "role": "observer"}).status_code == 403
    assert client.post(remove_url(restricted_incident, lead)).status_code == 403
    assert roles(restricted_incident) == before


def test_outsiders_get_404(login, outsider, lead, restricted_incident):
    client = login(outsider)
    assert client.post(add_url(restricted_incident), {"user": outsider.pk, "role": "observer"}).status_code == 404
    assert client.post(role_url(restricted_incident, lead), {"role": "observer"}).status_code == 404


def test_a_non_member_is_404_on_the_role_and_remove_urls(login, lead, outsider, incident):
    client = login(lead)
    assert client.post(role_url(incident, outsider), {"role": "observer"}).status_code == 404
    assert client.post(remove_url(incident, outsider)).status_code == 404
