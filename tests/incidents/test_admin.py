"""Django admin for staff: every write goes through the services or is not offered."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.models import Activity, Finding, Incident, Membership, Task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _change_url(incident: Incident) -> str:
    return f"/admin/incidents/incident/{incident.pk}/change/"


def _form(incident: Incident, memberships: list[dict] | None = None, **changes) -> dict:
    """The admin change form as the browser posts it, loaded at ``incident.version``."""
    form = {
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "category": incident.category,
        "lead": incident.lead_id or "",
        "restricted": "on" if incident.restricted else "",
        "personal_data": "",
        "records_affected": "",
        "detected_at_0": incident.detected_at.strftime("%Y-%m-%d"),
        "detected_at_1": incident.detected_at.strftime("%H:%M:%S"),
        "version": incident.version,
    }
    rows = memberships or []
    existing = [row for row in rows if row.get("id")]
    form |= {
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(len(existing)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        form |= {f"memberships-{i}-{key}": value for key, value in row.items()}
        form[f"memberships-{i}-incident"] = incident.pk
    form.update(changes)
    return form


@pytest.fixture
def whole_seconds(incident: Incident) -> Incident:
    # The admin's split date/time widget has whole seconds: start from such times.
    Incident.objects.filter(pk=incident.pk).update(detected_at=incident.detected_at.replace(microsecond=0))
    incident.refresh_from_db()
    return incident


def test_admin_edit_goes_through_the_service(client, admin, whole_seconds):
    incident = whole_seconds
    client.force_login(admin)
    assert client.get(_change_url(incident)).status_code == 200
    response = client.post(_change_url(incident), _form(incident, title="Renamed in admin", severity="high"))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.version) == ("Renamed in admin", "high", 2)
    entry = Activity.objects.get(incident=incident, verb="updated")
    assert entry.actor == admin
    assert entry.data == {
        "changes": {
            "severity": {"old": "medium", "new": "high"},
            "title": {"old": "Phishing wave against finance", "new": "Renamed in admin"},
        }
    }


def test_a_stale_admin_form_overwrites_nothing(client, admin, lead, whole_seconds):
    incident = whole_seconds
    stale_form = _form(incident, title="Admin's title")  # loaded at version 1
    services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Lead's title"})
    client.force_login(admin)
    response = client.post(_change_url(incident), stale_form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["version"] == [
        "Someone changed this incident since you opened this page (version 1, now 2). "
        "Reload the page and apply your change again."
    ]
    incident.refresh_from_db()
    assert (incident.title, incident.version) == ("Lead's title", 2)


def test_admin_lead_choices_are_the_lead_candidates(client, admin, lead, responder, vendor, whole_seconds):
    client.force_login(admin)
    form = client.get(_change_url(whole_seconds)).context["adminform"].form
    assert list(form.fields["lead"].queryset.values_list("username", flat=True)) == ["ada", "lena"]
    response = client.post(_change_url(whole_seconds), _form(whole_seconds, lead=vendor.pk))
    assert response.status_code == 200
    whole_seconds.refresh_from_db()
    assert whole_seconds.lead == lead


def test_members_added_changed_and_removed_in_the_admin_go_through_the_services(
    client, admin, lead, responder, whole_seconds
):
    incident = whole_seconds
    observer = UserFactory(username="olga")
    services.member_add(incident=incident, user=responder, actor=lead)
    incident.refresh_from_db()
    lead_row = Membership.objects.get(incident=incident, user=lead)
    responder_row = Membership.objects.get(incident=incident, user=responder)
    rows = [
        {"id": lead_row.pk, "user": lead.pk, "role": "lead"},
        {"id": responder_row.pk, "user": responder.pk, "role": "responder", "DELETE": "on"},
        {"user": observer.pk, "role": "observer"},
    ]
    client.force_login(admin)
    response = client.post(_change_url(incident), _form(incident, memberships=rows))
    assert response.status_code == 302, response.context["inline_admin_formsets"] if response.context else ""
    roles = dict(Membership.objects.filter(incident=incident).values_list("user__username", "role"))
    assert roles == {"lena": "lead", "olga": "observer"}
    verbs = list(Activity.objects.filter(incident=incident, actor=admin).values_list("verb", "data__username"))
    assert sorted(verbs) == [("member_added", "olga"), ("member_removed", "ravi")]


def test_the_lead_membership_cannot_be_changed_in_the_inline(client, admin, lead, whole_seconds):
    incident = whole_seconds
    lead_row = Membership.objects.get(incident=incident, user=lead)
    client.force_login(admin)
    rows = [{"id": lead_row.pk, "user": lead.pk, "role": "observer"}]
    response = client.post(_change_url(incident), _form(incident, memberships=rows))
    assert response.status_code == 200
    assert Membership.objects.get(pk=lead_row.pk).role == "lead"


def test_admin_cannot_add_or_delete_incidents(client, admin, incident):
    client.force_login(admin)
    assert client.get("/admin/incidents/incident/add/").status_code == 403
    assert client.post(f"/admin/incidents/incident/{incident.pk}/delete/", {"post": "yes"}).status_code == 403
    assert list(Incident.objects.values_list("pk", flat=True)) == [incident.pk]


@pytest.mark.parametrize("model", ["activity", "finding", "task"])
def test_activity_findings_and_tasks_are_read_only_in_the_admin(client, admin, lead, incident, model):
    services.finding_add(incident=incident, author=lead, body="Beacon")
    services.task_add(incident=incident, actor=lead, title="Block")
    row = {"activity": Activity, "finding": Finding, "task": Task}[model].objects.first()
    before = {"activity": Activity, "finding": Finding, "task": Task}[model].objects.count()
    client.force_login(admin)
    base = f"/admin/incidents/{model}/"
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    # The change page shows the row read-only: a POST changes nothing.
    client.post(f"{base}{row.pk}/change/", {"title": "Changed", "body": "Changed", "verb": "opened"})
    bulk = client.post(base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    assert bulk.status_code in {200, 302}
    assert {"activity": Activity, "finding": Finding, "task": Task}[model].objects.count() == before
    row.refresh_from_db()
    assert getattr(row, "title", getattr(row, "body", "opened")) != "Changed"


def test_the_indicators_changelist_is_read_only_with_a_fixed_query_count(
    client, admin, lead, incident, django_assert_num_queries
):
    from incidents.indicators.services import indicator_add
    from incidents.models import Indicator

    for n in range(5):
        indicator_add(incident=incident, actor=lead, type="ip", value=f"203.0.113.{n}")
    client.force_login(admin)
    base = "/admin/incidents/indicator/"
    # Session, user, the count and the page of rows with their incidents (select_related): the
    # same whatever the number of indicators.
    with django_assert_num_queries(5):
        response = client.get(base)
    assert response.status_code == 200
    html = response.content.decode()
    assert "203.0.113.4" in html and incident.reference in html
    assert f"{base}add/" not in html  # no "Add" button
    assert 'name="action"' not in html  # no bulk delete
    row = Indicator.objects.first()
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    change = client.get(f"{base}{row.pk}/change/")
    assert change.status_code == 200 and 'type="submit" value="Save"' not in change.content.decode()
    client.post(f"{base}{row.pk}/change/", {"tlp": "red", "value": "198.51.100.1"})
    row.refresh_from_db()
    assert (row.tlp, row.value) == ("amber", "203.0.113.0")
    assert client.get(base, {"q": "203.0.113.3", "tlp__exact": "amber", "type__exact": "ip"}).status_code == 200
    assert Indicator.objects.count() == 5


@pytest.mark.parametrize(
    "model", ["vendorquestion", "affectedscope", "vendorknownaccess", "vendoraccess", "containmentoverride"]
)
def test_the_vendor_case_changelists_load_and_are_read_only(client, admin, model):
    client.force_login(admin)

    response = client.get(f"/admin/incidents/{model}/")

    assert response.status_code == 200
    assert f"/admin/incidents/{model}/add/" not in response.content.decode()
    assert client.get(f"/admin/incidents/{model}/add/").status_code == 403
