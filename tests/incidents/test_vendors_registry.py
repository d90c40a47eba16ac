"""The vendor registry (``/vendors/``, ``/api/v1/vendors/``): who reads and edits it, what it
accepts, and that it tells nobody about incidents they may not see."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Role, Scope
from incidents import services as case_services
from incidents.models import Status, Vendor, VendorRole
from incidents.vendors import services
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

READ, WRITE = Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE


def vendor_of(actor, name="Northwind MSP", **fields):
    return services.vendor_create(actor=actor, name=name, **fields)


# --- Services ---------------------------------------------------------------------------------
class TestServices:
    def test_create_normalizes_name_and_domains(self, lead):
        assert not Vendor.objects.exists()
        vendor = vendor_of(
            lead,
            name="  Northwind   MSP ",
            domains=["NorthWind.Example.", "bücher.example", "nw[.]example", "northwind.example"],
        )
        vendor.refresh_from_db()
        assert vendor.name == "Northwind MSP"
        assert vendor.domains == ["northwind.example", "xn--bcher-kva.example", "nw.example"]
        assert vendor.created_by == lead

    def test_name_is_unique_whatever_its_case(self, lead, admin):
        vendor_of(lead, name="Northwind MSP")
        with pytest.raises(ValidationError) as refused:
            vendor_of(admin, name="NORTHWIND msp")
        assert refused.value.message_dict == {"name": ["A vendor with this name is already in the registry."]}
        assert Vendor.objects.count() == 1

    def test_renaming_onto_another_name_is_refused_and_the_database_agrees(self, lead):
        vendor_of(lead, name="Northwind MSP")
        other = vendor_of(lead, name="Contoso")
        with pytest.raises(ValidationError):
            services.vendor_update(vendor=other, actor=lead, data={"name": "northwind msp"})
        assert Vendor.objects.get(pk=other.pk).name == "Contoso"
        # The unique index on lower(name) is the last word, past any check in Python.
        from django.db import IntegrityError, transaction

        with pytest.raises(IntegrityError), transaction.atomic():
            Vendor.objects.create(name="NORTHWIND MSP")

    def test_bad_domains_are_named(self, lead):
        with pytest.raises(ValidationError) as refused:
            vendor_of(lead, domains=["northwind.example", "localhost", "203.0.113.9"])
        errors = refused.value.message_dict["domains"]
        assert len(errors) == 2 and "localhost" in errors[0] and "IP address" in errors[1]
        assert not Vendor.objects.exists()

    @pytest.mark.parametrize("role", [Role.RESPONDER, Role.EXECUTIVE, Role.VENDOR, Role.INTEGRATION])
    def test_only_admins_and_incident_leads_edit_the_registry(self, lead, role):
        vendor = vendor_of(lead)
        person = UserFactory(role=role)
        with pytest.raises(PermissionDenied):
            vendor_of(person, name="Contoso")
        with pytest.raises(PermissionDenied):
            services.vendor_update(vendor=vendor, actor=person, data={"tier": "low"})
        with pytest.raises(PermissionDenied):
            services.vendor_delete(vendor=vendor, actor=person)
        assert list(Vendor.objects.values_list("name", "tier")) == [("Northwind MSP", "medium")]

    def test_update_returns_old_and_new(self, admin):
        vendor = vendor_of(admin, tier="low")
        changes = services.vendor_update(vendor=vendor, actor=admin, data={"tier": "critical", "service": "RMM"})
        assert changes == {"tier": ("low", "critical"), "service": ("", "RMM")}
        assert Vendor.objects.values_list("tier", "service").get() == ("critical", "RMM")


# --- Browser ----------------------------------------------------------------------------------
class TestBrowser:
    def test_a_lead_adds_and_edits_a_vendor(self, login, lead):
        client = login(lead)
        assert client.get("/vendors/new/").status_code == 200
        response = client.post(
            "/vendors/new/", {"name": "Northwind MSP", "domains": "northwind.example, NW.example", "tier": "critical"}
        )
        vendor = Vendor.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/vendors/{vendor.pk}/"
        assert vendor.domains == ["northwind.example", "nw.example"]
        response = client.post(f"/vendors/{vendor.pk}/edit/", {"name": "Northwind MSP", "domains": "", "tier": "high"})
        assert response.status_code == 302
        vendor.refresh_from_db()
        assert (vendor.tier, vendor.domains) == ("high", [])

    def test_a_duplicate_name_is_a_form_error(self, login, lead):
        vendor_of(lead)
        response = login(lead).post("/vendors/new/", {"name": "northwind msp", "tier": "low"})
        assert response.status_code == 400
        assert "already in the registry" in response.content.decode()
        assert Vendor.objects.count() == 1

    @pytest.mark.parametrize("persona", ["responder", "executive"])
    def test_readers_read_but_do_not_edit(self, request, login, lead, persona):
        vendor = vendor_of(lead)
        client = login(request.getfixturevalue(persona))
        page = client.get("/vendors/")
        assert page.status_code == 200 and "Northwind MSP" in page.content.decode()
        assert "Add a vendor" not in page.content.decode()
        assert client.get(f"/vendors/{vendor.pk}/").status_code == 200
        assert client.get("/vendors/new/").status_code == 403
        assert client.post(f"/vendors/{vendor.pk}/edit/", {"name": "X", "tier": "low"}).status_code == 403
        assert Vendor.objects.get().name == "Northwind MSP"

    def test_vendor_collaborators_never_see_the_registry(self, login, lead, vendor):
        northwind = vendor_of(lead)
        vendor.vendor = northwind
        vendor.save()
        client = login(vendor)
        for url in ["/vendors/", f"/vendors/{northwind.pk}/", "/vendors/new/", f"/vendors/{northwind.pk}/edit/"]:
            assert client.get(url).status_code == 404, url
        assert client.post("/vendors/new/", {"name": "Mine", "tier": "low"}).status_code == 404
        assert "/vendors/" not in client.get("/").content.decode()

    def test_search_and_filters(self, login, lead, responder):
        northwind = vendor_of(lead, name="Northwind MSP", domains=["northwind.example"], tier="critical")
        vendor_of(lead, name="Contoso Payroll", domains=["bücher.example"], tier="low")
        vendor_of(lead, name="Fabrikam", tier="high")
        incident = make_incident(opened_by=lead, lead=lead)
        services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT)
        client = login(responder)

        def names(**params):
            response = client.get("/vendors/", params)
            assert response.status_code == 200
            return [vendor.name for vendor in response.context["page"].object_list]

        assert names() == ["Contoso Payroll", "Fabrikam", "Northwind MSP"]
        assert names(q="north") == ["Northwind MSP"]
        assert names(q="NORTHWIND.example") == ["Northwind MSP"]
        assert names(q="bücher") == ["Contoso Payroll"]  # the IDNA form is found from the Unicode one
        assert names(tier=["low", "high"]) == ["Contoso Payroll", "Fabrikam"]
        assert names(involved_open="true") == ["Northwind MSP"]
        assert names(involved_open="false") == ["Contoso Payroll", "Fabrikam"]
        case_services.incident_close(incident=incident, actor=lead, resolution="benign", closing_summary="")
        assert names(involved_open="true") == []

    @pytest.mark.parametrize("count", [1, 10])
    def test_list_query_count_is_fixed(self, login, lead, responder, count, django_assert_num_queries):
        incident = make_incident(opened_by=lead, lead=lead)
        for n in range(count):
            vendor = vendor_of(lead, name=f"Vendor {n}", domains=[f"v{n}.example"])
            services.involvement_add(incident=incident, vendor=vendor, actor=lead)
        client = login(responder)
        # 1 session, 2 user, 3 the paginator's count, 4 the page of vendors, each with its count of
        # open visible incidents (a subquery in the same query): the same with 1 or 10.
        with django_assert_num_queries(4):
            response = client.get("/vendors/")
        assert len(response.context["page"].object_list) == count
        assert response.content.decode().count('class="vendor-row"') == count

    @pytest.mark.parametrize("count", [1, 10])
    def test_detail_query_count_is_fixed(self, login, lead, responder, count, django_assert_num_queries):
        vendor = vendor_of(lead)
        for n in range(count):
            incident = make_incident(opened_by=lead, lead=lead, title=f"Case {n}")
            services.involvement_add(incident=incident, vendor=vendor, actor=lead)
        client = login(responder)
        # 1 session, 2 user, 3 the vendor, 4 its involvements on incidents the viewer may see, each
        # with its incident (one query, joined), 5 its access still active on those incidents
        # (with their incidents), 6 its known access in the registry: the same with 1 or 10.
        with django_assert_num_queries(6):
            response = client.get(f"/vendors/{vendor.pk}/")
        assert response.content.decode().count('class="vendor-incident"') == count


# --- The vendor page and visibility -----------------------------------------------------------
class TestVendorPage:
    def test_never_shows_incidents_the_viewer_may_not_see(
        self, login, lead, outsider, executive, admin, restricted_incident
    ):
        vendor = vendor_of(lead)
        public = make_incident(opened_by=lead, lead=lead, title="Phishing from the MSP's tenant")
        services.involvement_add(incident=public, vendor=vendor, actor=lead, role=VendorRole.AFFECTED)
        services.involvement_add(incident=restricted_incident, vendor=vendor, actor=lead, role=VendorRole.ENTRY_POINT)

        def shown(user):
            html = login(user).get(f"/vendors/{vendor.pk}/").content.decode()
            return {ref for ref in (public.reference, restricted_incident.reference) if ref in html}

        assert shown(lead) == {public.reference, restricted_incident.reference}
        assert shown(admin) == {public.reference, restricted_incident.reference}
        assert shown(outsider) == {public.reference}
        assert shown(executive) == {public.reference}
        html = login(outsider).get(f"/vendors/{vendor.pk}/").content.decode()
        assert restricted_incident.title not in html and "Entry point" not in html
        # The list's count of open incidents and its filter do not count it either.
        listed = login(outsider).get("/vendors/")
        assert [v.open_incidents for v in listed.context["page"].object_list] == [1]

    def test_detail_shows_role_and_status(self, login, lead, incident):
        vendor = vendor_of(lead)
        services.involvement_add(
            incident=incident, vendor=vendor, actor=lead, role=VendorRole.ENTRY_POINT, vendor_reference="NW-2291"
        )
        html = login(lead).get(f"/vendors/{vendor.pk}/").content.decode()
        assert "Entry point" in html and "New" in html and "NW-2291" in html
        assert incident.status == Status.NEW

    def test_unknown_vendor_is_404(self, login, lead):
        assert login(lead).get("/vendors/999999/").status_code == 404


# --- API --------------------------------------------------------------------------------------
class TestApi:
    def test_crud_as_a_lead(self, api, lead):
        client = api(READ, WRITE, user=lead)
        created = client.post(
            "/api/v1/vendors/",
            {"name": "Northwind MSP", "domains": ["NorthWind.example"], "tier": "critical", "service": "RMM"},
            format="json",
        )
        assert created.status_code == 201, created.content
        body = created.json()
        assert (body["name"], body["domains"], body["tier"], body["open_incidents"]) == (
            "Northwind MSP",
            ["northwind.example"],
            "critical",
            0,
        )
        pk = body["id"]
        listed = client.get("/api/v1/vendors/?q=northwind").json()
        assert [row["id"] for row in listed["results"]] == [pk]
        changed = client.patch(f"/api/v1/vendors/{pk}/", {"tier": "high"}, format="json")
        assert changed.status_code == 200 and changed.json()["tier"] == "high"
        assert client.delete(f"/api/v1/vendors/{pk}/").status_code == 204
        assert not Vendor.objects.exists()

    @pytest.mark.parametrize(
        "payload, field, message",
        [
            ({"name": "northwind msp"}, "name", "A vendor with this name is already in the registry."),
            ({"name": "X", "tier": "extreme"}, "tier", '"extreme" is not a valid choice.'),
            ({"name": "X", "domains": ["not a domain"]}, "domains", None),
            ({"name": "X", "domains": "northwind.example"}, "domains", None),
            ({"name": "X", "colour": "red"}, "colour", "Unknown field."),
            ({"name": "X", "open_incidents": 3}, "open_incidents", "This field is read-only."),
            ({"tier": "low"}, "name", "This field is required."),
            ({"name": "X\x00"}, "name", "Null characters are not allowed."),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, api, lead, payload, field, message):
        vendor_of(lead)
        response = api(READ, WRITE, user=lead).post("/api/v1/vendors/", payload, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()
        if message:
            assert message in response.json()[field]
        assert Vendor.objects.count() == 1

    def test_bad_filters_are_400(self, api, lead):
        client = api(READ, user=lead)
        assert client.get("/api/v1/vendors/?tier=extreme").status_code == 400
        assert client.get("/api/v1/vendors/?involved_open=maybe").status_code == 400

    def test_a_responder_reads_but_does_not_write(self, api, lead, responder):
        vendor = vendor_of(lead)
        client = api(READ, WRITE, user=responder)
        assert client.get(f"/api/v1/vendors/{vendor.pk}/").status_code == 200
        assert client.post("/api/v1/vendors/", {"name": "Contoso"}, format="json").status_code == 403
        assert client.patch(f"/api/v1/vendors/{vendor.pk}/", {"tier": "low"}, format="json").status_code == 403
        assert client.delete(f"/api/v1/vendors/{vendor.pk}/").status_code == 403
        assert list(Vendor.objects.values_list("name", "tier")) == [("Northwind MSP", "medium")]

    def test_vendor_collaborators_get_404(self, api, lead, vendor):
        northwind = vendor_of(lead)
        client = api(READ, WRITE, user=vendor)
        assert client.get("/api/v1/vendors/").status_code == 404
        assert client.get(f"/api/v1/vendors/{northwind.pk}/").status_code == 404
        assert client.post("/api/v1/vendors/", {"name": "Mine"}, format="json").status_code == 404

    def test_a_vendor_in_use_stays(self, api, lead, incident):
        vendor = vendor_of(lead)
        services.involvement_add(incident=incident, vendor=vendor, actor=lead)
        response = api(READ, WRITE, user=lead).delete(f"/api/v1/vendors/{vendor.pk}/")
        assert response.status_code == 409
        assert "involved in incidents" in response.json()["detail"]
        assert Vendor.objects.filter(pk=vendor.pk).exists()
