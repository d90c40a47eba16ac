"""Vendors' access items on an incident: the state machine (forward, one step at a time, who,
when and how recorded), filling from the registry's known access, the ``manage_vendors`` row for
access writes cell by cell, and the API (list, create, step, fill, known access; 400s)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import Scope
from incidents import services as case_services
from incidents.models import Activity, VendorAccess, VendorAccessStep, VendorRole, Verb
from incidents.vendors import services
from tests.incidents.test_permissions import PERSONAS, REFUSED, allowed, case, entries_since, last_activity_id  # noqa: F401

pytestmark = pytest.mark.django_db

READ, WRITE = Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE


@pytest.fixture
def northwind(admin):
    return services.vendor_create(actor=admin, name="Northwind MSP", tier="critical")


@pytest.fixture
def entry(lead, incident, northwind):
    return services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT)


@pytest.fixture
def token(lead, entry):
    return services.access_add(
        involvement=entry, actor=lead, kind="api_token", system="GitLab CI", identifier="svc-nw-ci", privilege="admin"
    )


def steps(access):
    return list(
        VendorAccessStep.objects.filter(access=access)
        .order_by("id")
        .values_list("from_state", "to_state", "actor__username", "note")
    )


def state_of(access):
    return VendorAccess.objects.get(pk=access.pk).state


# --- The state machine ------------------------------------------------------------------------
def test_forward_one_step_at_a_time_recording_who_when_and_how(lead, responder, incident, token):
    case_services.member_add(incident=incident, user=responder, actor=lead)
    assert state_of(token) == "active" and steps(token) == []
    before = timezone.now()
    services.access_step(access=token, actor=lead, to="revoked", note="Token deleted in GitLab")
    services.access_step(access=token, actor=responder, to="rotated", note="New token, ours only")
    since = timezone.now() - timedelta(days=3)
    services.access_step(
        access=token, actor=lead, to="verified_unused", note="GitLab audit log: no use", verified_unused_since=since
    )
    row = VendorAccess.objects.get(pk=token.pk)
    assert (row.state, row.verified_unused_since) == ("verified_unused", since)
    assert steps(token) == [
        ("active", "revoked", "lena", "Token deleted in GitLab"),
        ("revoked", "rotated", "ravi", "New token, ours only"),
        ("rotated", "verified_unused", "lena", "GitLab audit log: no use"),
    ]
    assert all(step.at >= before for step in VendorAccessStep.objects.filter(access=token))
    assert VendorAccessStep.objects.filter(access=token).last().verified_unused_since == since


SKIP = "API token svc-nw-ci is {now}: its next step is {next}, not {to} (steps go forward one at a time)."


@pytest.mark.parametrize(
    "path, to, message",
    [
        ([], "rotated", SKIP.format(now="active", next="revoked", to="rotated / replaced")),
        ([], "verified_unused", SKIP.format(now="active", next="revoked", to="verified unused")),
        ([], "active", "API token svc-nw-ci is already active."),
        (["revoked"], "verified_unused", SKIP.format(now="revoked", next="rotated / replaced", to="verified unused")),
        (["revoked"], "active", SKIP.format(now="revoked", next="rotated / replaced", to="active")),
        (
            ["revoked", "rotated"],
            "revoked",
            SKIP.format(now="rotated / replaced", next="verified unused", to="revoked"),
        ),
    ],
)
def test_skips_and_steps_back_are_refused(lead, token, path, to, message):
    for step in path:
        services.access_step(access=token, actor=lead, to=step)
    recorded = steps(token)
    with pytest.raises(ValidationError) as refused:
        services.access_step(access=token, actor=lead, to=to, note="x", verified_unused_since=timezone.now())
    assert refused.value.message_dict == {"to": [message]}
    assert steps(token) == recorded and state_of(token) == (path[-1] if path else "active")


def test_verified_unused_is_the_last_step(lead, token):
    for step in ("revoked", "rotated"):
        services.access_step(access=token, actor=lead, to=step)
    services.access_step(
        access=token, actor=lead, to="verified_unused", note="logs", verified_unused_since=timezone.now()
    )
    with pytest.raises(ValidationError) as refused:
        services.access_step(access=token, actor=lead, to="revoked")
    assert refused.value.message_dict == {"to": ["API token svc-nw-ci is verified unused: that is its last step."]}


def test_verified_unused_needs_how_and_since_not_in_the_future(lead, token):
    for step in ("revoked", "rotated"):
        services.access_step(access=token, actor=lead, to=step)
    with pytest.raises(ValidationError) as refused:
        services.access_step(access=token, actor=lead, to="verified_unused")
    assert refused.value.message_dict == {
        "note": ["Say how it was verified unused (which logs, which period)."],
        "verified_unused_since": ["Say since when it has been unused."],
    }
    with pytest.raises(ValidationError) as refused:
        services.access_step(
            access=token,
            actor=lead,
            to="verified_unused",
            note="logs",
            verified_unused_since=timezone.now() + timedelta(days=1),
        )
    assert refused.value.message_dict == {"verified_unused_since": ["Cannot be in the future."]}
    assert state_of(token) == "rotated"


def test_a_badge_has_nothing_to_rotate(lead, entry):
    badge = services.access_add(
        involvement=entry, actor=lead, kind="physical_badge", system="HQ doors", identifier="B-1182"
    )
    services.access_step(access=badge, actor=lead, to="revoked", note="Badge collected at reception")
    services.access_step(
        access=badge, actor=lead, to="verified_unused", note="Door log: no swipe", verified_unused_since=timezone.now()
    )
    assert state_of(badge) == "verified_unused"


def test_the_same_access_twice_is_refused(lead, entry, token):
    with pytest.raises(ValidationError) as refused:
        services.access_add(
            involvement=entry, actor=lead, kind="api_token", system=" GitLab  CI ", identifier="svc-nw-ci"
        )
    assert refused.value.message_dict == {"identifier": ["API token svc-nw-ci on GitLab CI is already listed."]}


def test_entries_are_internal_and_read_well(lead, incident, token):
    services.access_step(access=token, actor=lead, to="revoked", note="deleted")
    entries = Activity.objects.filter(
        incident=incident, verb__in=[Verb.VENDOR_ACCESS_ADDED, Verb.VENDOR_ACCESS_STEPPED]
    )
    assert [(e.internal, e.text) for e in entries.order_by("id")] == [
        (True, "added Northwind MSP's access: API token svc-nw-ci"),
        (True, "moved Northwind MSP's API token svc-nw-ci from active to revoked: deleted"),
    ]


def test_an_involvement_with_access_items_stays(lead, entry, token):
    with pytest.raises(ValidationError) as refused:
        services.involvement_remove(involvement=entry, actor=lead)
    assert refused.value.message_dict == {"vendor": ["Northwind MSP has 1 access item on this incident: it stays."]}


# --- Filling from the registry ------------------------------------------------------------------
def test_fill_copies_known_access_and_skips_what_is_listed(admin, lead, incident, northwind, entry, token):
    for kind, system, identifier in [
        ("api_token", "GitLab CI", "svc-nw-ci"),
        ("ssh_key", "Build cluster", "nw-runner@ci-01"),
        ("vpn_account", "Corp VPN", "nw-support"),
    ]:
        services.known_access_add(vendor=northwind, actor=admin, kind=kind, system=system, identifier=identifier)
    added = services.access_fill_from_registry(involvement=entry, actor=lead)
    assert [item.label for item in added] == ["SSH key nw-runner@ci-01", "VPN account nw-support"]
    assert all(item.known_id and item.state == "active" for item in added)
    assert services.access_fill_from_registry(involvement=entry, actor=lead) == []
    assert VendorAccess.objects.filter(involvement=entry).count() == 3
    assert Activity.objects.filter(incident=incident, verb=Verb.VENDOR_ACCESS_ADDED).first().text == (
        "added Northwind MSP's access from the registry: SSH key nw-runner@ci-01, VPN account nw-support"
    )


def test_known_access_is_for_registry_editors(responder, northwind):
    with pytest.raises(PermissionDenied):
        services.known_access_add(vendor=northwind, actor=responder, kind="api_token", system="x", identifier="y")


# --- The rule row: manage_vendors covers access items, cell by cell ------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_vendors_add_and_step_access(case, northwind, persona):  # noqa: F811
    actor = case[persona]
    entry = services.involvement_add(incident=case.incident, vendor=northwind, actor=case["lena"])
    item = services.access_add(involvement=entry, actor=case["lena"], kind="ssh_key", system="bastion", identifier="k1")
    since = last_activity_id(case.incident)
    if not allowed("manage_vendors", persona):
        with pytest.raises(PermissionDenied) as refused:
            services.access_add(involvement=entry, actor=actor, kind="api_token", system="CI", identifier="t")
        assert str(refused.value) == REFUSED["manage_vendors"]
        with pytest.raises(PermissionDenied):
            services.access_step(access=item, actor=actor, to="revoked")
        with pytest.raises(PermissionDenied):
            services.access_fill_from_registry(involvement=entry, actor=actor)
        assert entries_since(case.incident, since) == [] and state_of(item) == "active"
        assert VendorAccess.objects.filter(involvement=entry).count() == 1
        return
    services.access_add(involvement=entry, actor=actor, kind="api_token", system="CI", identifier="t")
    services.access_step(access=item, actor=actor, to="revoked")
    assert state_of(item) == "revoked"
    assert [verb for verb, *_ in entries_since(case.incident, since)] == [
        "vendor_access_added",
        "vendor_access_stepped",
    ]


# --- API --------------------------------------------------------------------------------------
def url(incident, involvement, tail=""):
    return f"/api/v1/incidents/{incident.reference}/vendors/{involvement.pk}/access/{tail}"


def results(response):
    return response.data["results"] if isinstance(response.data, dict) else response.data


class TestApi:
    def test_create_list_step(self, api, lead, incident, entry):
        client = api(READ, WRITE, user=lead)
        created = client.post(
            url(incident, entry), {"kind": "api_token", "system": "GitLab CI", "identifier": "svc-nw-ci"}, format="json"
        )
        assert created.status_code == 201, created.data
        assert (created.data["state"], created.data["steps"]) == ("active", [])
        pk = created.data["id"]
        stepped = client.post(url(incident, entry, f"{pk}/step/"), {"to": "revoked", "note": "gone"}, format="json")
        assert stepped.status_code == 200
        assert stepped.data["state"] == "revoked"
        assert [(s["from_state"], s["to_state"], s["actor"], s["note"]) for s in stepped.data["steps"]] == [
            ("active", "revoked", "lena", "gone")
        ]
        skipped = client.post(url(incident, entry, f"{pk}/step/"), {"to": "verified_unused"}, format="json")
        assert skipped.status_code == 400 and list(skipped.data) == ["to"]
        listed = client.get(url(incident, entry))
        assert [row["identifier"] for row in results(listed)] == ["svc-nw-ci"]

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"kind": "laser", "system": "a", "identifier": "b"}, "kind"),
            ({"kind": "api_token", "identifier": "b"}, "system"),
            ({"kind": "api_token", "system": "a", "identifier": "b", "state": "revoked"}, "state"),
            ({"kind": "api_token", "system": "a", "identifier": "b", "colour": "red"}, "colour"),
        ],
    )
    def test_bad_input_is_a_400(self, api, lead, incident, entry, payload, field):
        response = api(READ, WRITE, user=lead).post(url(incident, entry), payload, format="json")
        assert response.status_code == 400 and field in response.data

    def test_a_vendor_collaborator_may_not_add(self, api, lead, vendor, restricted_incident, northwind):
        vendor.vendor = northwind
        vendor.save(update_fields=["vendor"])
        entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        response = api(READ, WRITE, user=vendor).post(
            url(restricted_incident, entry), {"kind": "api_token", "system": "a", "identifier": "b"}, format="json"
        )
        assert response.status_code == 403

    def test_an_invisible_incident_is_404(self, api, lead, outsider, restricted_incident, northwind):
        entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        assert api(READ, user=outsider).get(url(restricted_incident, entry)).status_code == 404

    def test_known_access(self, api, lead, vendor, northwind):
        client = api(READ, WRITE, user=lead)
        known_url = f"/api/v1/vendors/{northwind.pk}/known-access/"
        created = client.post(
            known_url, {"kind": "vpn_account", "system": "Corp VPN", "identifier": "nw"}, format="json"
        )
        assert created.status_code == 201
        assert [row["identifier"] for row in results(client.get(known_url))] == ["nw"]
        assert api(READ, WRITE, user=vendor).get(known_url).status_code == 404
        assert client.post(known_url, {"kind": "vpn_account", "system": "x"}, format="json").status_code == 400

    def test_fill(self, api, admin, lead, incident, northwind, entry):
        services.known_access_add(vendor=northwind, actor=admin, kind="ssh_key", system="bastion", identifier="k")
        response = api(READ, WRITE, user=lead).post(url(incident, entry, "fill/"))
        assert response.status_code == 200 and [row["identifier"] for row in response.data] == ["k"]


# --- Known access on the registry, in the browser ------------------------------------------------
def test_registry_editors_record_known_access_on_the_vendor_page(login, lead, northwind):
    page = f"/vendors/{northwind.pk}/"
    client = login(lead)
    assert f'action="/vendors/{northwind.pk}/known-access/"' in client.get(page).content.decode()

    response = client.post(
        f"{page}known-access/",
        {"kind": "api_token", "system": "GitLab CI", "identifier": "svc-nw-ci", "privilege": "maintainer"},
    )

    assert response.status_code == 302 and response["Location"] == page
    assert list(northwind.known_access.values_list("kind", "system", "identifier", "privilege", "created_by")) == [
        ("api_token", "GitLab CI", "svc-nw-ci", "maintainer", lead.pk)
    ]
    again = client.post(f"{page}known-access/", {"kind": "api_token", "system": "GitLab CI", "identifier": "svc-nw-ci"})
    assert again.status_code == 400
    assert "API token svc-nw-ci on GitLab CI is already known." in again.content.decode()
    assert northwind.known_access.count() == 1


@pytest.mark.parametrize(("persona", "status"), [("responder", 403), ("executive", 403), ("vendor", 404)])
def test_others_may_not_record_known_access(request, login, northwind, persona, status):
    client = login(request.getfixturevalue(persona))
    page = client.get(f"/vendors/{northwind.pk}/")

    response = client.post(
        f"/vendors/{northwind.pk}/known-access/", {"kind": "api_token", "system": "HQ", "identifier": "b1"}
    )

    assert response.status_code == status
    assert "known-access/" not in page.content.decode()
    assert northwind.known_access.count() == 0
