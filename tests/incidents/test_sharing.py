"""The internal flag: one field on case content and one selector filter (``shared_with``).

A vendor collaborator invited to an incident sees only what is shared with them: findings,
tasks and activity entries that are not internal, and of the people only the incident's lead
and themselves. Everyone else who can see the incident sees everything on it.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents import services
from incidents.models import Activity, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_case(lead, responder, vendor, restricted_incident):
    """The restricted breach with one shared and one internal finding and task each."""
    incident = restricted_incident
    services.finding_add(incident=incident, author=lead, body="Contractor token used from 203.0.113.77", internal=False)
    services.finding_add(incident=incident, author=responder, body="Our SOC missed the first alert")  # internal
    services.task_add(incident=incident, actor=lead, title="Confirm your containment", assignee=vendor, internal=False)
    services.task_add(incident=incident, actor=lead, title="Assess legal exposure", assignee=responder)  # internal
    return incident


class TestDefaults:
    def test_content_is_internal_by_default_on_a_restricted_incident_only(self, lead, incident, restricted_incident):
        assert services.finding_add(incident=restricted_incident, author=lead, body="a").internal is True
        assert services.finding_add(incident=incident, author=lead, body="b").internal is False
        assert services.task_add(incident=restricted_incident, actor=lead, title="c").internal is True
        assert services.task_add(incident=incident, actor=lead, title="d").internal is False

    def test_what_a_vendor_adds_is_never_internal(self, vendor, restricted_incident):
        finding = services.finding_add(incident=restricted_incident, author=vendor, body="Our CI log", internal=True)
        task = services.task_add(incident=restricted_incident, actor=vendor, title="Send logs", internal=True)
        assert (finding.internal, task.internal) == (False, False)

    def test_entries_about_people_and_access_are_internal(self, lead, responder, incident):
        services.member_add(incident=incident, user=responder, actor=lead)
        services.incident_update(incident=incident, actor=lead, version=1, changes={"restricted": True})
        services.incident_update(incident=incident, actor=lead, version=2, changes={"title": "Renamed"})
        entries = list(Activity.objects.filter(incident=incident).order_by("id").values_list("verb", "internal"))
        assert entries == [
            ("opened", False),
            ("member_added", True),  # lena, the lead, at opening
            ("member_added", True),  # ravi
            ("updated", True),  # restricted: access
            ("updated", False),  # title
        ]


class TestAssignees:
    def test_a_vendor_may_be_assigned_only_tasks_that_are_not_internal(self, lead, vendor, restricted_incident):
        with pytest.raises(ValidationError) as refused:
            services.task_add(incident=restricted_incident, actor=lead, title="Rotate keys", assignee=vendor)
        assert refused.value.message_dict == {
            "assignee": ["victor is a vendor collaborator: only tasks that are not internal can be theirs."]
        }
        assert not Task.objects.exists()
        task = services.task_add(
            incident=restricted_incident, actor=lead, title="Confirm containment", assignee=vendor, internal=False
        )
        assert task.assignee == vendor

    def test_a_vendors_task_cannot_be_made_internal(self, lead, vendor, restricted_incident):
        task = services.task_add(
            incident=restricted_incident, actor=lead, title="Confirm containment", assignee=vendor, internal=False
        )
        with pytest.raises(ValidationError) as refused:
            services.task_update(task=task, actor=lead, changes={"internal": True})
        assert list(refused.value.message_dict) == ["assignee"]
        task.refresh_from_db()
        assert task.internal is False


class TestWhatAVendorSees:
    def test_detail_page(self, login, vendor, lead, responder, shared_case):
        body = login(vendor).get(reverse("incidents:detail", args=[shared_case.reference])).content.decode()
        assert "Contractor token used from 203.0.113.77" in body
        assert "Confirm your containment" in body
        for hidden in ("Our SOC missed the first alert", "Assess legal exposure", "Internal (hidden"):
            assert hidden not in body
        # People: the lead (their contact) and themselves, not the internal responder.
        members = body[body.index('class="rows compact members"') :]
        members = members[: members.index("</ul>")]
        assert str(lead) in members and str(vendor) in members
        assert str(responder) not in members

    def test_assignee_choices_name_only_people_they_may_know(self, login, vendor, lead, responder, shared_case):
        form = login(vendor).get(reverse("incidents:detail", args=[shared_case.reference])).context["task_form"]
        assert sorted(user.username for user in form.fields["assignee"].queryset) == ["lena", "victor"]
        staff_form = (
            login(responder).get(reverse("incidents:detail", args=[shared_case.reference])).context["task_form"]
        )
        assert sorted(user.username for user in staff_form.fields["assignee"].queryset) == ["lena", "ravi", "victor"]

    def test_activity_panel(self, login, vendor, shared_case):
        page = login(vendor).get(reverse("incidents:detail", args=[shared_case.reference]))
        texts = [entry.text for entry in page.context["incident"].recent_activity]
        assert texts == [
            "added the task “Confirm your containment”",
            "added a finding",
            "opened the incident (critical)",
        ]

    def test_staff_see_everything(self, login, responder, shared_case):
        body = login(responder).get(reverse("incidents:detail", args=[shared_case.reference])).content.decode()
        for text in ("Our SOC missed the first alert", "Assess legal exposure", "Contractor token used"):
            assert text in body
        assert body.count('class="badge internal"') == 2

    def test_api_lists_and_task_detail(self, api, vendor, responder, shared_case):
        client = api("incidents:read", "incidents:write", user=vendor)
        base = f"/api/v1/incidents/{shared_case.reference}"
        findings = client.get(f"{base}/findings/").json()["results"]
        tasks = client.get(f"{base}/tasks/").json()["results"]
        assert [f["body"] for f in findings] == ["Contractor token used from 203.0.113.77"]
        assert [t["title"] for t in tasks] == ["Confirm your containment"]
        hidden = Task.objects.get(title="Assess legal exposure")
        assert client.get(f"{base}/tasks/{hidden.pk}/").status_code == 404
        staff = api("incidents:read", user=responder)
        assert len(staff.get(f"{base}/findings/").json()["results"]) == 2

    def test_htmx_panels_and_toggle(self, login, vendor, shared_case):
        client = login(vendor)
        hidden = Task.objects.get(title="Assess legal exposure")
        toggle = reverse("incidents:task-toggle", args=[shared_case.reference, hidden.pk])
        assert client.post(toggle, HTTP_HX_REQUEST="true").status_code == 404
        panel = client.post(
            reverse("incidents:finding-add", args=[shared_case.reference]),
            {"body": "Our EDR export is attached"},
            HTTP_HX_REQUEST="true",
        ).content.decode()
        assert "Our EDR export is attached" in panel and "Contractor token used" in panel
        assert "Our SOC missed the first alert" not in panel
