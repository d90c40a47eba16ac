"""Vendors on an incident: the ``manage_vendors`` row of the rule table proven cell by cell through
the services, the activity entries, the incident page's panel (and its live redraws), the API,
and what a vendor collaborator may know (their own company's involvement, nothing else)."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Scope
from incidents import live
from incidents.models import Activity, VendorInvolvement, VendorRole, Verb
from incidents.vendors import services
from tests.factories import make_incident
from tests.incidents.test_permissions import PERSONAS, REFUSED, allowed, case, entries_since, last_activity_id  # noqa: F401

pytestmark = pytest.mark.django_db

READ, WRITE = Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def northwind(admin):
    return services.vendor_create(actor=admin, name="Northwind MSP", domains=["northwind.example"], tier="critical")


@pytest.fixture
def contoso(admin):
    return services.vendor_create(actor=admin, name="Contoso Forensics", tier="low")


def rows(incident):
    return list(
        VendorInvolvement.objects.filter(incident=incident)
        .order_by("id")
        .values_list("vendor__name", "role", "vendor_reference", "added_by__username")
    )


# --- The rule row, cell by cell ---------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_vendors_add(case, northwind, persona):  # noqa: F811 - the fixture imported above
    actor = case[persona]
    assert rows(case.incident) == []

    def add():
        return services.involvement_add(
            incident=case.incident, vendor=northwind, actor=actor, role=VendorRole.ENTRY_POINT, vendor_reference="NW-1"
        )

    if not allowed("manage_vendors", persona):
        since = last_activity_id(case.incident)
        with pytest.raises(PermissionDenied) as refused:
            add()
        assert str(refused.value) == REFUSED["manage_vendors"]
        assert rows(case.incident) == [] and entries_since(case.incident, since) == []
        return
    since = last_activity_id(case.incident)
    involvement = add()
    assert rows(case.incident) == [("Northwind MSP", "entry_point", "NW-1", persona)]
    assert entries_since(case.incident, since) == [
        (
            "vendor_involved",
            persona,
            {
                "involvement_id": involvement.pk,
                "vendor_id": northwind.pk,
                "vendor": "Northwind MSP",
                "role": "entry_point",
                "vendor_reference": "NW-1",
            },
        )
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_vendors_change_and_remove(case, northwind, persona):  # noqa: F811
    actor = case[persona]
    involvement = services.involvement_add(incident=case.incident, vendor=northwind, actor=case["lena"])
    assert rows(case.incident) == [("Northwind MSP", "affected", "", "lena")]
    since = last_activity_id(case.incident)
    if not allowed("manage_vendors", persona):
        with pytest.raises(PermissionDenied):
            services.involvement_update(involvement=involvement, actor=actor, data={"role": "entry_point"})
        with pytest.raises(PermissionDenied):
            services.involvement_remove(involvement=involvement, actor=actor)
        assert rows(case.incident) == [("Northwind MSP", "affected", "", "lena")]
        assert entries_since(case.incident, since) == []
        return
    changes = services.involvement_update(
        involvement=involvement, actor=actor, data={"role": "entry_point", "vendor_reference": " NW-2291 "}
    )
    assert changes == {"role": ("affected", "entry_point"), "vendor_reference": ("", "NW-2291")}
    assert rows(case.incident) == [("Northwind MSP", "entry_point", "NW-2291", "lena")]
    services.involvement_remove(involvement=involvement, actor=actor)
    assert rows(case.incident) == []
    base = {"involvement_id": involvement.pk, "vendor_id": northwind.pk, "vendor": "Northwind MSP"}
    assert entries_since(case.incident, since) == [
        (
            "vendor_role_changed",
            persona,
            {
                **base,
                "changes": {
                    "role": {"old": "affected", "new": "entry_point"},
                    "vendor_reference": {"old": "", "new": "NW-2291"},
                },
            },
        ),
        ("vendor_removed", persona, {**base, "role": "entry_point"}),
    ]


def test_entries_are_internal_and_read_well(lead, incident, northwind):
    involvement = services.involvement_add(
        incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT, vendor_reference="NW-1"
    )
    services.involvement_update(involvement=involvement, actor=lead, data={"role": "supporting"})
    services.involvement_remove(involvement=involvement, actor=lead)
    entries = Activity.objects.filter(verb__startswith="vendor_").order_by("id")
    assert [entry.internal for entry in entries] == [True, True, True]
    assert [entry.text for entry in entries] == [
        "added the vendor Northwind MSP as entry point (their reference NW-1)",
        "changed the vendor Northwind MSP: role from entry_point to supporting",
        "removed the vendor Northwind MSP (was supporting)",
    ]


def test_a_vendor_is_on_an_incident_once(lead, incident, northwind):
    services.involvement_add(incident=incident, vendor=northwind, actor=lead)
    with pytest.raises(ValidationError) as refused:
        services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.SUPPORTING)
    assert refused.value.message_dict == {"vendor": ["Northwind MSP is already on this incident."]}
    assert rows(incident) == [("Northwind MSP", "affected", "", "lena")]


def test_a_bad_role_is_refused(lead, incident, northwind):
    with pytest.raises(ValidationError) as refused:
        services.involvement_add(incident=incident, vendor=northwind, actor=lead, role="villain")
    assert "role" in refused.value.message_dict
    assert rows(incident) == []


def test_every_vendor_verb_redraws_the_vendors_panel():
    for verb in (Verb.VENDOR_INVOLVED, Verb.VENDOR_ROLE_CHANGED, Verb.VENDOR_REMOVED):
        assert live.PANELS_BY_VERB[verb] == frozenset({"vendors"})


# --- What a vendor collaborator may know ------------------------------------------------------
@pytest.fixture
def shared_case(lead, vendor, restricted_incident, northwind, contoso):
    """Northwind (victor's company) is the entry point, Contoso supports the response."""
    vendor.vendor = northwind
    vendor.save()
    services.involvement_add(
        incident=restricted_incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT, vendor_reference="NW-1"
    )
    services.involvement_add(incident=restricted_incident, vendor=contoso, actor=lead, role=VendorRole.SUPPORTING)
    return restricted_incident


def test_a_vendor_collaborator_sees_only_their_own_company_on_the_page(login, vendor, shared_case):
    html = login(vendor).get(shared_case.get_absolute_url()).content.decode()
    assert "Northwind MSP" in html and "NW-1" in html
    assert "Contoso" not in html
    assert "/vendors/" not in html.replace(f"/incidents/{shared_case.reference}/vendors/", "")  # no registry links
    assert 'class="add-form vendor-add"' not in html


def test_without_a_company_a_vendor_collaborator_sees_no_vendors(login, vendor, shared_case):
    vendor.vendor = None
    vendor.save()
    html = login(vendor).get(shared_case.get_absolute_url()).content.decode()
    assert "Northwind MSP" not in html and "Contoso" not in html


def test_a_vendor_collaborator_in_the_api(api, vendor, shared_case, contoso, northwind):
    client = api(READ, WRITE, user=vendor)
    base = f"/api/v1/incidents/{shared_case.reference}/vendors/"
    listed = client.get(base)
    assert listed.status_code == 200
    assert [(row["vendor_name"], row["role"], row["added_by"]) for row in listed.json()["results"]] == [
        ("Northwind MSP", "entry_point", None)
    ]
    other = VendorInvolvement.objects.get(vendor=contoso)
    assert client.get(f"{base}{other.pk}/").status_code == 404
    assert client.delete(f"{base}{other.pk}/").status_code == 404
    own = VendorInvolvement.objects.get(vendor=northwind)
    assert client.patch(f"{base}{own.pk}/", {"role": "affected"}, format="json").status_code == 403
    assert client.post(base, {"vendor": contoso.pk}, format="json").status_code == 403
    assert rows(shared_case) == [
        ("Northwind MSP", "entry_point", "NW-1", "lena"),
        ("Contoso Forensics", "supporting", "", "lena"),
    ]


def test_entries_about_vendors_are_hidden_from_vendor_collaborators(login, vendor, shared_case):
    html = login(vendor).get(shared_case.get_absolute_url()).content.decode()
    assert "added the vendor" not in html


# --- The incident page's panel ----------------------------------------------------------------
def choice_names(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="vendor" value="\d+" required(?: checked)?> ([^<]+)</label>', html)


class TestChoices:
    """The add form shows a few registry vendors as radio buttons and searches the rest
    (``GET …/vendors/choices/?q=``): a registry of thousands is never drawn into the page."""

    @pytest.fixture
    def registry(self, admin, northwind, contoso):
        for n in range(12):
            services.vendor_create(actor=admin, name=f"Acme Supplier {n:02}", tier="low")

    def test_the_page_shows_the_first_ten_by_name_and_says_there_are_more(self, login, lead, incident, registry):
        page = login(lead).get(incident.get_absolute_url()).content.decode()

        assert choice_names(page) == [f"Acme Supplier {n:02}" for n in range(10)]
        assert "More vendors match: type more of the name." in page

    def test_search_finds_by_part_of_the_name_and_leaves_out_vendors_on_the_incident(
        self, login, lead, incident, registry, northwind, contoso
    ):
        services.involvement_add(incident=incident, vendor=contoso, actor=lead, role=VendorRole.SUPPORTING)
        client = login(lead)
        url = f"/incidents/{incident.reference}/vendors/choices/"

        assert choice_names(client.get(url, {"q": "WIND"}).content.decode()) == ["Northwind MSP"]
        assert choice_names(client.get(url, {"q": "supplier 1"}).content.decode()) == [
            "Acme Supplier 10",
            "Acme Supplier 11",
        ]
        assert choice_names(client.get(url, {"q": "contoso"}).content.decode()) == []  # already on it
        assert "No vendor left to add matches “contoso”." in client.get(url, {"q": "contoso"}).content.decode()
        assert choice_names(client.get(url, {"q": "n\x00orth"}).content.decode()) == ["Northwind MSP"]

    def test_a_refused_form_keeps_the_pick(self, login, lead, incident, registry, northwind):
        response = login(lead).post(
            f"/incidents/{incident.reference}/vendors/",
            {"vendor": northwind.pk, "role": "villain"},
            **HTMX,
        )

        html = response.content.decode()
        assert f'value="{northwind.pk}" required checked> Northwind MSP' in html
        assert choice_names(html)[0] == "Northwind MSP"

    def test_only_those_who_add_vendors_may_search(self, login, executive, outsider, incident, restricted_incident):
        assert login(executive).get(f"/incidents/{incident.reference}/vendors/choices/").status_code == 403
        assert login(outsider).get(f"/incidents/{restricted_incident.reference}/vendors/choices/").status_code == 404


class TestPanel:
    def test_add_change_remove_with_htmx(self, login, lead, incident, northwind):
        client = login(lead)
        page = client.get(incident.get_absolute_url()).content.decode()
        assert 'id="vendors-panel"' in page and 'id="vendor-add-search"' in page
        assert f'<input type="radio" name="vendor" value="{northwind.pk}" required> Northwind MSP' in page
        added = client.post(
            f"/incidents/{incident.reference}/vendors/",
            {"vendor": northwind.pk, "role": "entry_point", "vendor_reference": "NW-7"},
            **HTMX,
        )
        assert added.status_code == 200
        html = added.content.decode()
        assert "Added Northwind MSP as entry point." in html and "case-activity" in html
        involvement = VendorInvolvement.objects.get()
        changed = client.post(
            f"/incidents/{incident.reference}/vendors/{involvement.pk}/", {"role": "affected"}, **HTMX
        )
        assert changed.status_code == 200
        assert VendorInvolvement.objects.get().role == "affected"
        removed = client.post(f"/incidents/{incident.reference}/vendors/{involvement.pk}/remove/", **HTMX)
        assert removed.status_code == 200 and "No vendors on this incident." in removed.content.decode()
        assert list(
            Activity.objects.filter(verb__startswith="vendor_").order_by("id").values_list("verb", flat=True)
        ) == [
            "vendor_involved",
            "vendor_role_changed",
            "vendor_removed",
        ]

    def test_without_htmx_it_redirects(self, login, lead, incident, northwind):
        response = login(lead).post(
            f"/incidents/{incident.reference}/vendors/", {"vendor": northwind.pk, "role": "affected"}
        )
        assert response.status_code == 302 and response["Location"] == incident.get_absolute_url()
        assert rows(incident) == [("Northwind MSP", "affected", "", "lena")]

    def test_a_vendor_already_on_it_is_not_offered_and_refused(self, login, lead, incident, northwind, contoso):
        services.involvement_add(incident=incident, vendor=northwind, actor=lead)
        client = login(lead)
        form = client.get(incident.get_absolute_url()).context["vendor_form"]
        assert list(form.fields["vendor"].queryset) == [contoso]
        response = client.post(
            f"/incidents/{incident.reference}/vendors/", {"vendor": northwind.pk, "role": "affected"}, **HTMX
        )
        assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
        assert len(rows(incident)) == 1

    def test_a_non_member_writer_gets_no_form_and_a_403(self, login, outsider, incident, northwind):
        client = login(outsider)
        assert client.get(incident.get_absolute_url()).context["vendor_form"] is None
        response = client.post(
            f"/incidents/{incident.reference}/vendors/", {"vendor": northwind.pk, "role": "affected"}
        )
        assert response.status_code == 403
        assert rows(incident) == []

    def test_an_outsider_gets_404_on_a_restricted_incident(self, login, lead, outsider, restricted_incident, northwind):
        involvement = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        client = login(outsider)
        ref = restricted_incident.reference
        assert client.post(f"/incidents/{ref}/vendors/", {"vendor": northwind.pk}).status_code == 404
        assert client.post(f"/incidents/{ref}/vendors/{involvement.pk}/", {"role": "affected"}).status_code == 404
        assert client.post(f"/incidents/{ref}/vendors/{involvement.pk}/remove/").status_code == 404
        assert len(rows(restricted_incident)) == 1

    def test_live_poll_redraws_the_panel_on_a_vendor_change(self, login, lead, responder, incident, northwind):
        import re

        client = login(lead)
        page = client.get(incident.get_absolute_url()).content.decode()
        token = re.search(r'data-live-since="([^"]+)"', page).group(1)
        services.involvement_add(incident=incident, vendor=northwind, actor=lead)
        response = client.get(f"/incidents/{incident.reference}/live/", {"since": token})
        swapped = set(re.findall(r'hx-swap-oob="innerHTML:#([\w-]+)"', response.content.decode()))
        assert swapped == {"vendors-count", "vendors-checklist", "vendors-list", "case-activity", "live-status"}


# --- The API ----------------------------------------------------------------------------------
class TestApi:
    def test_list_create_update_delete(self, api, lead, incident, northwind):
        client = api(READ, WRITE, user=lead)
        base = f"/api/v1/incidents/{incident.reference}/vendors/"
        created = client.post(
            base, {"vendor": northwind.pk, "role": "entry_point", "vendor_reference": "NW-1"}, format="json"
        )
        assert created.status_code == 201, created.content
        body = created.json()
        assert (body["vendor"], body["vendor_name"], body["role"], body["added_by"]) == (
            northwind.pk,
            "Northwind MSP",
            "entry_point",
            "lena",
        )
        pk = body["id"]
        assert client.patch(f"{base}{pk}/", {"role": "affected"}, format="json").json()["role"] == "affected"
        assert client.get(base).json()["results"][0]["role"] == "affected"
        assert client.delete(f"{base}{pk}/").status_code == 204
        assert rows(incident) == []

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"role": "affected"}, "vendor"),
            ({"vendor": 999999}, "vendor"),
            ({"vendor": "northwind"}, "vendor"),
            ({"vendor": None}, "vendor"),
            ({"role": "villain", "vendor": 0}, "role"),
            ({"colour": "red", "vendor": 0}, "colour"),
        ],
    )
    def test_bad_input_is_a_400(self, api, lead, incident, northwind, payload, field):
        payload = {k: (northwind.pk if v == 0 else v) for k, v in payload.items()}
        response = api(READ, WRITE, user=lead).post(
            f"/api/v1/incidents/{incident.reference}/vendors/", payload, format="json"
        )
        assert response.status_code == 400 and field in response.json(), response.content
        assert rows(incident) == []

    def test_a_duplicate_and_a_changed_vendor_are_400(self, api, lead, incident, northwind, contoso):
        client = api(READ, WRITE, user=lead)
        base = f"/api/v1/incidents/{incident.reference}/vendors/"
        pk = client.post(base, {"vendor": northwind.pk}, format="json").json()["id"]
        again = client.post(base, {"vendor": northwind.pk}, format="json")
        assert again.status_code == 400
        assert again.json() == {"vendor": ["Northwind MSP is already on this incident."]}
        swap = client.patch(f"{base}{pk}/", {"vendor": contoso.pk}, format="json")
        assert swap.status_code == 400
        assert swap.json() == {
            "vendor": ["An involvement is one vendor's: remove it and add the other vendor instead."]
        }

    def test_a_write_only_key_learns_the_id_only(self, api, lead, incident, northwind):
        response = api(WRITE, user=lead).post(
            f"/api/v1/incidents/{incident.reference}/vendors/", {"vendor": northwind.pk}, format="json"
        )
        assert response.status_code == 201 and set(response.json()) == {"id"}

    def test_an_invisible_incident_is_404(self, api, lead, outsider, restricted_incident, northwind):
        services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        client = api(READ, WRITE, user=outsider)
        assert client.get(f"/api/v1/incidents/{restricted_incident.reference}/vendors/").status_code == 404


def test_the_registry_filter_sees_only_visible_open_incidents(lead, outsider, restricted_incident, northwind):
    from incidents.vendors.selectors import vendor_filter

    services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
    other = make_incident(opened_by=lead, lead=lead)
    assert other.pk
    assert [v.name for v in vendor_filter(viewer=lead, filters={"involved_open": "true"}).qs] == ["Northwind MSP"]
    assert list(vendor_filter(viewer=outsider, filters={"involved_open": "true"}).qs) == []
