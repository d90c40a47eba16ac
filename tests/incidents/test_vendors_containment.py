"""The containment checklist derived from vendors' access items, the guard on moving an incident
to contained (an entry-point vendor's active access needs a recorded override), the
``override_containment`` row cell by cell, and the views that answer "is their access closed?":
the vendor's page and ``/vendors/access/``."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import Scope
from incidents import services as case_services
from incidents.models import Activity, ContainmentOverride, Incident, Status, VendorRole, Verb
from incidents.vendors import services
from incidents.vendors.containment import Checklist
from tests.factories import make_incident
from tests.incidents.test_permissions import PERSONAS, REFUSED, allowed, case  # noqa: F401

pytestmark = pytest.mark.django_db

READ, WRITE = Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE
BLOCKED = (
    "Entry-point vendor access is still active (Northwind MSP: API token svc-nw-ci). Revoke it first, "
    "or give a reason to override (override_reason)."
)


@pytest.fixture
def northwind(admin):
    return services.vendor_create(actor=admin, name="Northwind MSP", tier="critical")


@pytest.fixture
def contoso(admin):
    return services.vendor_create(actor=admin, name="Contoso Forensics", tier="low")


def investigating(incident, lead):
    case_services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)


@pytest.fixture
def breach(lead, incident, northwind):
    """The incident under investigation, Northwind its entry point with an active API token."""
    investigating(incident, lead)
    entry = services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT)
    token = services.access_add(involvement=entry, actor=lead, kind="api_token", system="CI", identifier="svc-nw-ci")
    return incident, entry, token


def status(incident):
    return Incident.objects.get(pk=incident.pk).status


# --- The checklist ------------------------------------------------------------------------------
def test_checklist_texts(lead, incident, northwind):
    entry = services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT)

    def add(kind, identifier):
        return services.access_add(involvement=entry, actor=lead, kind=kind, system="s", identifier=identifier)

    def text():
        return Checklist.of(entry.access_items.order_by("added_at", "id")).text

    assert text() == "No vendor access recorded."
    token = add("api_token", "svc-nw-ci")
    assert text() == "0 of 1 vendor access item revoked; API token svc-nw-ci still active."
    key = add("ssh_key", "deploy@bastion")
    badge = add("physical_badge", "B-1182")
    services.access_step(access=badge, actor=lead, to="revoked")
    assert text() == "1 of 3 vendor access items revoked; API token svc-nw-ci and SSH key deploy@bastion still active."
    services.access_step(access=key, actor=lead, to="revoked")
    services.access_step(access=key, actor=lead, to="rotated")
    assert text() == "2 of 3 vendor access items revoked; API token svc-nw-ci still active."
    assert not Checklist.of(entry.access_items.all()).green
    services.access_step(access=token, actor=lead, to="revoked")
    assert text() == "3 of 3 vendor access items revoked."
    assert Checklist.of(entry.access_items.all()).green


def test_the_panel_shows_the_checklist(login, lead, breach):
    incident, _, token = breach
    client = login(lead)
    body = client.get(incident.get_absolute_url()).content.decode()
    assert 'data-green="false"' in body
    assert "0 of 1 vendor access item revoked; API token svc-nw-ci still active." in body
    services.access_step(access=token, actor=lead, to="revoked")
    body = client.get(incident.get_absolute_url()).content.decode()
    assert 'data-green="true"' in body and "1 of 1 vendor access item revoked." in body


# --- The guard -----------------------------------------------------------------------------------
def test_contained_is_refused_while_entry_point_access_is_active(lead, breach):
    incident, _, token = breach
    with pytest.raises(ValidationError) as refused:
        case_services.incident_transition(incident=incident, to=Status.CONTAINED, actor=lead)
    assert refused.value.message_dict == {"to": [BLOCKED]}
    assert status(incident) == "investigating" and not ContainmentOverride.objects.exists()
    services.access_step(access=token, actor=lead, to="revoked")
    case_services.incident_transition(incident=incident, to=Status.CONTAINED, actor=lead)
    assert status(incident) == "contained" and not ContainmentOverride.objects.exists()


def test_other_roles_do_not_block(lead, incident, northwind):
    investigating(incident, lead)
    entry = services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.AFFECTED)
    services.access_add(involvement=entry, actor=lead, kind="vpn_account", system="VPN", identifier="nw")
    case_services.incident_transition(incident=incident, to=Status.CONTAINED, actor=lead)
    assert status(incident) == "contained"


def test_the_override_is_recorded(lead, breach):
    incident, _, token = breach
    before = timezone.now()
    case_services.incident_transition(
        incident=incident, to=Status.CONTAINED, actor=lead, override_reason="  Disabled on Northwind's side  "
    )
    assert status(incident) == "contained"
    override = ContainmentOverride.objects.get(incident=incident)
    assert (override.actor, override.reason) == (lead, "Disabled on Northwind's side")
    assert override.at >= before
    assert override.items == [
        {
            "id": token.pk,
            "vendor": "Northwind MSP",
            "kind": "api_token",
            "identifier": "svc-nw-ci",
            "label": "API token svc-nw-ci",
        }
    ]
    entry = Activity.objects.get(incident=incident, verb=Verb.CONTAINMENT_OVERRIDDEN)
    assert entry.internal is True
    assert (
        entry.text
        == "marked it contained with vendor access still active (API token svc-nw-ci): Disabled on Northwind's side"
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_override_containment_cell_by_cell(case, northwind, persona):  # noqa: F811
    lena = case["lena"]
    investigating(case.incident, lena)
    entry = services.involvement_add(incident=case.incident, vendor=northwind, actor=lena, role=VendorRole.ENTRY_POINT)
    services.access_add(involvement=entry, actor=lena, kind="api_token", system="CI", identifier="svc-nw-ci")
    actor = case[persona]

    def override():
        case_services.incident_transition(
            incident=case.incident, to=Status.CONTAINED, actor=actor, override_reason="why"
        )

    if not allowed("override_containment", persona):
        with pytest.raises(PermissionDenied) as refused:
            override()
        # Those who may not transition at all hear the transition's refusal first.
        expected = REFUSED["override_containment"] if allowed("transition", persona) else REFUSED["transition"]
        assert str(refused.value) == expected
        assert status(case.incident) == "investigating" and not ContainmentOverride.objects.exists()
        return
    override()
    assert status(case.incident) == "contained"
    assert ContainmentOverride.objects.get().actor == actor


# --- API and browser ----------------------------------------------------------------------------
class TestApi:
    def test_refused_without_and_recorded_with_a_reason(self, api, lead, breach):
        incident, _, _ = breach
        client = api(READ, WRITE, user=lead)
        transition = f"/api/v1/incidents/{incident.reference}/transition/"
        refused = client.post(transition, {"to": "contained"}, format="json")
        assert refused.status_code == 400 and refused.data == {"to": [BLOCKED]}
        done = client.post(transition, {"to": "contained", "override_reason": "Vendor confirmed"}, format="json")
        assert done.status_code == 200 and done.data["status"] == "contained"
        assert ContainmentOverride.objects.get().reason == "Vendor confirmed"

    def test_a_responder_may_not_override(self, api, lead, responder, breach):
        incident, _, _ = breach
        case_services.member_add(incident=incident, user=responder, actor=lead)
        response = api(READ, WRITE, user=responder).post(
            f"/api/v1/incidents/{incident.reference}/transition/",
            {"to": "contained", "override_reason": "trust me"},
            format="json",
        )
        assert response.status_code == 403 and status(incident) == "investigating"


class TestBrowser:
    def test_refusal_leads_to_the_confirmation_then_the_override_is_shown(self, login, lead, breach):
        incident, _, _ = breach
        client = login(lead)
        refused = client.post(f"/incidents/{incident.reference}/transition/", {"to": "contained"})
        version = Incident.objects.get(pk=incident.pk).version
        assert refused.status_code == 302 and refused["Location"] == f"/incidents/{incident.reference}/contain/"
        page = client.get(refused["Location"]).content.decode()
        assert "Northwind MSP: API token svc-nw-ci" in page and "Mark contained anyway" in page
        empty = client.post(refused["Location"], {"version": version, "override_reason": ""})
        assert empty.status_code == 400 and status(incident) == "investigating"
        done = client.post(refused["Location"], {"version": version, "override_reason": "Disabled at the vendor"})
        assert done.status_code == 302 and status(incident) == "contained"
        body = client.get(incident.get_absolute_url()).content.decode()
        assert "Marked contained with vendor access active by" in body and "Disabled at the vendor" in body

    def test_a_responder_is_not_offered_the_override(self, login, lead, responder, breach):
        incident, _, _ = breach
        case_services.member_add(incident=incident, user=responder, actor=lead)
        page = login(responder).get(f"/incidents/{incident.reference}/contain/").content.decode()
        assert "Mark contained anyway" not in page
        assert "Only the incident's lead or an admin may mark it contained" in page

    def test_steps_in_the_panel(self, login, lead, breach):
        incident, entry, token = breach
        client = login(lead)
        base = f"/incidents/{incident.reference}/vendors/{entry.pk}/access/{token.pk}/step/"
        skipped = client.post(base, {"to": "rotated"}, HTTP_HX_REQUEST="true")
        assert "its next step is revoked" in skipped.content.decode()
        done = client.post(base, {"to": "revoked", "note": "deleted"}, HTTP_HX_REQUEST="true")
        assert "API token svc-nw-ci is now revoked." in done.content.decode()
        assert 'data-green="true"' in done.content.decode()


# --- "Is their access closed?" ------------------------------------------------------------------
class TestOpenAccess:
    def test_lists_active_items_on_open_visible_incidents_only(
        self, login, lead, outsider, vendor, restricted_incident, northwind, contoso, breach
    ):
        hidden = services.involvement_add(incident=restricted_incident, vendor=contoso, actor=lead)
        services.access_add(involvement=hidden, actor=lead, kind="ssh_key", system="s", identifier="secret-key")
        closed = make_incident(opened_by=lead, lead=lead, title="Old case")
        old = services.involvement_add(incident=closed, vendor=northwind, actor=lead)
        services.access_add(involvement=old, actor=lead, kind="vpn_account", system="v", identifier="closed-vpn")
        case_services.incident_close(incident=closed, actor=lead, resolution="false_positive")
        lead_page = login(lead).get("/vendors/access/").content.decode()
        assert lead_page.count('class="open-access-item"') == 2
        assert "svc-nw-ci" in lead_page and "secret-key" in lead_page and "closed-vpn" not in lead_page
        otto_page = login(outsider).get("/vendors/access/").content.decode()
        assert otto_page.count('class="open-access-item"') == 1
        assert "svc-nw-ci" in otto_page and "secret-key" not in otto_page

    def test_vendor_collaborators_get_404(self, login, vendor):
        assert login(vendor).get("/vendors/access/").status_code == 404

    @pytest.mark.parametrize("count", [1, 5])
    def test_query_count_is_fixed(self, login, lead, northwind, count, django_assert_num_queries):
        for n in range(count):
            incident = make_incident(opened_by=lead, lead=lead, title=f"Case {n}")
            entry = services.involvement_add(incident=incident, vendor=northwind, actor=lead)
            services.access_add(involvement=entry, actor=lead, kind="api_token", system="CI", identifier=f"t{n}")
        client = login(lead)
        # 1 session, 2 user, 3 the active items with their involvements, vendors and incidents
        # (one joined query, visibility as a subquery): the same with 1 or 5.
        with django_assert_num_queries(3):
            body = client.get("/vendors/access/").content.decode()
        assert body.count('class="open-access-item"') == count

    def test_the_vendor_page_says_whether_their_access_is_closed(
        self, login, lead, outsider, restricted_incident, northwind, breach
    ):
        _, _, token = breach
        hidden = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        services.access_add(involvement=hidden, actor=lead, kind="ssh_key", system="s", identifier="secret-key")
        lead_page = login(lead).get(f"/vendors/{northwind.pk}/").content.decode()
        assert "2 access items still active." in lead_page
        otto_page = login(outsider).get(f"/vendors/{northwind.pk}/").content.decode()
        assert "1 access item still active." in otto_page and "secret-key" not in otto_page
        services.access_step(access=token, actor=lead, to="revoked")
        assert (
            "All their access recorded on incidents you can see is closed."
            in login(outsider).get(f"/vendors/{northwind.pk}/").content.decode()
        )
