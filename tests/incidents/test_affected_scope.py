"""Affected scope: validation of data categories and jurisdictions (400s naming the field), the
derivation of the incident's personal-data flag and record count (written-out values), hand
edits refused once scope rows exist, internal rows hidden from vendor collaborators, the panel,
its queries and the API."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Scope
from incidents import services as case_services
from incidents.models import Activity, AffectedScope, Incident
from incidents.vendors import scope as scope_services

pytestmark = pytest.mark.django_db

READ, WRITE = Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE


def results(response):
    return response.data["results"] if isinstance(response.data, dict) else response.data


def add(incident, actor, name, kind="data_set", **fields):
    return scope_services.scope_add(incident=incident, actor=actor, kind=kind, name=name, **fields)


def derived(incident):
    row = Incident.objects.get(pk=incident.pk)
    return row.personal_data, row.records_affected


# --- Validation --------------------------------------------------------------------------------
def test_jurisdictions_are_upper_cased_and_deduplicated(lead, incident):
    row = add(incident, lead, "CRM", jurisdictions=["de", " fr", "DE", "us"], data_categories=["financial", "personal"])
    row.refresh_from_db()
    assert row.jurisdictions == ["DE", "FR", "US"]
    assert row.data_categories == ["personal", "financial"]  # the order of DataCategory


def test_bad_categories_and_jurisdictions_are_named(lead, incident):
    with pytest.raises(ValidationError) as refused:
        add(incident, lead, "CRM", data_categories=["personal", "gossip"], jurisdictions=["DE", "XX", "EUR"])
    assert refused.value.message_dict == {
        "data_categories": [
            "Unknown data category “gossip” (choose from personal, health, financial, credentials, "
            "model_weights_ip, other)."
        ],
        "jurisdictions": [
            "“XX” is not an ISO 3166-1 alpha-2 country code (e.g. DE, FR, US).",
            "“EUR” is not an ISO 3166-1 alpha-2 country code (e.g. DE, FR, US).",
        ],
    }
    assert not AffectedScope.objects.exists()


@pytest.mark.parametrize("records", [0, -5, True])
def test_records_must_be_positive(lead, incident, records):
    with pytest.raises(ValidationError) as refused:
        add(incident, lead, "CRM", records=records)
    assert list(refused.value.message_dict) == ["records"]


def test_writes_are_the_edit_row(vendor, executive, restricted_incident, incident):
    with pytest.raises(PermissionDenied):
        add(restricted_incident, vendor, "CRM")
    with pytest.raises(PermissionDenied):
        add(incident, executive, "CRM")


# --- The derivation ------------------------------------------------------------------------------
def test_personal_data_and_records_are_derived(lead, incident):
    assert derived(incident) == (False, None)
    system = add(incident, lead, "ML artifact store", kind="system", data_categories=["model_weights_ip"], records=900)
    assert derived(incident) == (False, None)  # no personal, health or financial data
    hr = add(incident, lead, "HR export", data_categories=["personal"], records=12_400)
    assert derived(incident) == (True, 12_400)
    add(incident, lead, "Claims", data_categories=["health", "credentials"], records=600)
    assert derived(incident) == (True, 13_000)  # 12,400 + 600; the system's 900 are not people's
    add(incident, lead, "Cards", data_categories=["financial"])  # no count: adds nothing
    assert derived(incident) == (True, 13_000)
    scope_services.scope_remove(scope=hr, actor=lead)
    assert derived(incident) == (True, 600)
    scope_services.scope_remove(scope=system, actor=lead)
    assert derived(incident) == (True, 600)


def test_no_count_on_any_personal_row_is_unknown(lead, incident):
    add(incident, lead, "Mailbox", kind="account", data_categories=["personal"])
    assert derived(incident) == (True, None)


def test_the_change_is_an_updated_entry_old_to_new_and_bumps_the_version(lead, incident):
    version = Incident.objects.get(pk=incident.pk).version
    add(incident, lead, "HR export", data_categories=["personal"], records=12_400)
    entry = Activity.objects.filter(incident=incident, verb="updated").latest("id")
    assert entry.data == {
        "changes": {
            "personal_data": {"old": False, "new": True},
            "records_affected": {"old": None, "new": 12400},
        },
        "derived_from": "affected_scope",
    }
    assert Incident.objects.get(pk=incident.pk).version == version + 1
    assert [a.verb for a in Activity.objects.filter(incident=incident).order_by("-id")[:2]] == [
        "updated",
        "scope_added",
    ]


def test_the_last_row_removed_leaves_the_values_editable_again(lead, incident):
    row = add(incident, lead, "HR export", data_categories=["personal"], records=10)
    version = Incident.objects.get(pk=incident.pk).version
    with pytest.raises(ValidationError) as refused:
        case_services.incident_update(incident=incident, actor=lead, version=version, changes={"records_affected": 99})
    assert refused.value.message_dict == {
        "records_affected": ["Derived from the affected scope: change the scope rows instead."]
    }
    scope_services.scope_remove(scope=row, actor=lead)
    assert derived(incident) == (True, 10)  # left as they were
    version = Incident.objects.get(pk=incident.pk).version
    case_services.incident_update(incident=incident, actor=lead, version=version, changes={"records_affected": 99})
    assert derived(incident) == (True, 99)


def test_the_edit_form_shows_them_read_only(login, lead, incident):
    add(incident, lead, "HR export", data_categories=["personal"], records=10)
    body = login(lead).get(f"/incidents/{incident.reference}/edit/").content.decode()
    assert "Derived from the affected scope" in body


# --- Visibility --------------------------------------------------------------------------------
def test_internal_rows_are_hidden_from_vendor_collaborators(login, api, lead, vendor, restricted_incident):
    add(restricted_incident, lead, "Internal model registry", kind="system")  # internal: restricted
    add(restricted_incident, lead, "Labelling set", data_categories=["personal"], records=5, internal=False)
    page = login(vendor).get(restricted_incident.get_absolute_url()).content.decode()
    assert "Labelling set" in page and "Internal model registry" not in page
    listed = api(READ, user=vendor).get(f"/api/v1/incidents/{restricted_incident.reference}/scope/")
    assert [row["name"] for row in results(listed)] == ["Labelling set"]
    hidden = AffectedScope.objects.get(name="Internal model registry")
    assert Activity.objects.get(verb="scope_added", data__scope_id=hidden.pk).internal is True


# --- The panel ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [1, 8])
def test_the_panel_costs_one_query_whatever_its_rows(login, lead, incident, rows, django_assert_num_queries):
    for n in range(rows):
        add(incident, lead, f"System {n}", kind="system")
    client = login(lead)
    # The page of tests/incidents/test_views.py (24) less the task notes (no tasks here): 23,
    # of which one is the scope rows.
    with django_assert_num_queries(23):
        body = client.get(incident.get_absolute_url()).content.decode()
    assert body.count('class="scope-row') == rows


def test_add_and_remove_through_the_panel(login, lead, incident):
    client = login(lead)
    response = client.post(
        f"/incidents/{incident.reference}/scope/",
        {"kind": "data_set", "name": "HR export", "data_categories": ["personal"], "records": "40",
         "jurisdictions": "de, fr"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert response.status_code == 200 and "HR export" in response.content.decode()
    row = AffectedScope.objects.get()
    assert (row.jurisdictions, derived(incident)) == (["DE", "FR"], (True, 40))
    bad = client.post(
        f"/incidents/{incident.reference}/scope/", {"kind": "system", "name": "x", "jurisdictions": "ZZ"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert "is not an ISO 3166-1 alpha-2 country code" in bad.content.decode()
    client.post(f"/incidents/{incident.reference}/scope/{row.pk}/remove/")
    assert not AffectedScope.objects.exists()


# --- API ---------------------------------------------------------------------------------------
class TestApi:
    def url(self, incident, rest=""):
        return f"/api/v1/incidents/{incident.reference}/scope/{rest}"

    def test_create_list_delete(self, api, lead, incident):
        client = api(READ, WRITE, user=lead)
        created = client.post(
            self.url(incident),
            {"kind": "data_set", "name": "HR export", "data_categories": ["personal"], "records": 12400,
             "jurisdictions": ["de", "FR", "us"]},
            format="json",
        )  # fmt: skip
        assert created.status_code == 201, created.data
        assert (created.data["jurisdictions"], created.data["internal"]) == (["DE", "FR", "US"], False)
        assert [row["name"] for row in results(client.get(self.url(incident)))] == ["HR export"]
        detail = client.get(f"/api/v1/incidents/{incident.reference}/").data
        assert (detail["personal_data"], detail["records_affected"]) == (True, 12400)
        assert client.delete(self.url(incident, f"{created.data['id']}/")).status_code == 204
        assert results(client.get(self.url(incident))) == []

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"kind": "planet", "name": "x"}, "kind"),
            ({"kind": "system"}, "name"),
            ({"kind": "system", "name": "x", "data_categories": ["gossip"]}, "data_categories"),
            ({"kind": "system", "name": "x", "jurisdictions": ["Germany"]}, "jurisdictions"),
            ({"kind": "system", "name": "x", "records": 0}, "records"),
            ({"kind": "system", "name": "x", "colour": "red"}, "colour"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, api, lead, incident, payload, field):
        response = api(READ, WRITE, user=lead).post(self.url(incident), payload, format="json")
        assert response.status_code == 400 and list(response.data) == [field], response.data

    def test_a_hand_edit_of_derived_fields_is_a_400(self, api, lead, incident):
        add(incident, lead, "HR export", data_categories=["personal"], records=10)
        version = Incident.objects.get(pk=incident.pk).version
        response = api(READ, WRITE, user=lead).patch(
            f"/api/v1/incidents/{incident.reference}/", {"personal_data": False, "version": version}, format="json"
        )
        assert response.status_code == 400 and "personal_data" in response.data
        assert derived(incident) == (True, 10)

    def test_readers_and_vendors_may_not_write(self, api, lead, executive, vendor, incident, restricted_incident):
        body = {"kind": "system", "name": "x"}
        assert api(READ, WRITE, user=executive).post(self.url(incident), body, format="json").status_code == 403
        assert api(READ, WRITE, user=vendor).post(self.url(restricted_incident), body, format="json").status_code == 403
