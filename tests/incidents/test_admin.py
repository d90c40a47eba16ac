"""Django admin for staff: incidents are edited through the service, never opened there."""

from __future__ import annotations

import pytest

from incidents.models import Activity, Incident

pytestmark = pytest.mark.django_db


def test_admin_edit_goes_through_the_service(client, admin, incident):
    # The admin's split date/time widget has whole seconds: start from such times.
    Incident.objects.filter(pk=incident.pk).update(detected_at=incident.detected_at.replace(microsecond=0))
    incident.refresh_from_db()
    client.force_login(admin)
    url = f"/admin/incidents/incident/{incident.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = {
        "title": "Renamed in admin",
        "summary": incident.summary,
        "severity": "high",
        "category": incident.category,
        "lead": incident.lead_id,
        "restricted": "",
        "personal_data": "",
        "records_affected": "",
        "detected_at_0": incident.detected_at.strftime("%Y-%m-%d"),
        "detected_at_1": incident.detected_at.strftime("%H:%M:%S"),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.version) == ("Renamed in admin", "high", 2)
    entry = Activity.objects.get(incident=incident, verb="updated")
    assert entry.actor == admin and entry.data == {"fields": ["severity", "title"]}


def test_admin_cannot_add_incidents(client, admin):
    client.force_login(admin)
    assert client.get("/admin/incidents/incident/add/").status_code == 403
    assert Incident.objects.count() == 0
