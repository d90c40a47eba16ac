"""Playbooks (case templates) and tags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import Activity, Incident, Playbook, Tag
from tests.factories import make_incident

pytestmark = pytest.mark.django_db

VENDOR_PLAYBOOK_TASKS = [
    ("Revoke the vendor's access to our systems", True, timedelta(hours=4)),
    ("Rotate every credential the vendor held (accounts, tokens, keys)", True, timedelta(hours=8)),
    ("Collect the vendor's logs for the affected period", False, timedelta(days=1)),
    ("Confirm the vendor's own containment in writing", False, timedelta(days=1)),
    ("Assess what data the vendor's access exposed", True, timedelta(days=2)),
    ("Assess notification duties (GDPR, NIS2, contracts)", True, timedelta(days=2)),
]


def test_the_shipped_playbooks():
    assert list(Playbook.objects.order_by("slug").values_list("slug", "severity", "category")) == [
        ("compromised-credentials", "high", "account_compromise"),
        ("lost-device", "low", "other"),
        ("phishing", "medium", "phishing"),
        ("ransomware", "critical", "ransomware"),
        ("third-party-compromise", "high", "third_party"),
    ]
    vendor = Playbook.objects.get(slug="third-party-compromise")
    assert list(vendor.tasks.values_list("title", "internal", "due_after")) == VENDOR_PLAYBOOK_TASKS


class TestOpeningFromAPlaybook:
    def test_defaults_and_tasks(self, lead):
        before = timezone.now()
        playbook = Playbook.objects.get(slug="third-party-compromise")
        incident = make_incident(
            opened_by=lead, title="Contractor token abused", playbook=playbook, severity=None, category=None
        )
        assert (incident.severity, incident.category, incident.playbook.slug) == (
            "high",
            "third_party",
            "third-party-compromise",
        )
        assert incident.summary.startswith("## What happened")
        tasks = list(incident.tasks.order_by("id"))
        assert [(t.title, t.internal) for t in tasks] == [
            (title, internal) for title, internal, _ in VENDOR_PLAYBOOK_TASKS
        ]
        expected_due = [timezone.localtime(before + offset).date() for _, _, offset in VENDOR_PLAYBOOK_TASKS]
        assert [t.due_on for t in tasks] == expected_due
        assert Activity.objects.filter(incident=incident, verb="task_added").count() == 6

    def test_what_the_opener_gives_wins_over_the_playbook(self, lead):
        incident = make_incident(
            opened_by=lead, title="Ransom note", severity="high", playbook=Playbook.objects.get(slug="ransomware")
        )
        assert (incident.severity, incident.category) == ("high", "third_party")  # the factory's category

    def test_a_retired_playbook_is_refused(self, lead):
        playbook = Playbook.objects.get(slug="phishing")
        playbook.active = False
        playbook.save()
        with pytest.raises(ValidationError) as refused:
            make_incident(opened_by=lead, title="x", playbook=playbook)
        assert refused.value.message_dict == {"playbook": ["The playbook “Phishing” is retired."]}
        assert not Incident.objects.exists()

    def test_through_the_api(self, api, lead):
        client = api("incidents:read", "incidents:write", user=lead)
        created = client.post(
            "/api/v1/incidents/",
            {"title": "Phish wave", "template": "phishing", "tags": ["Mail", " mail "]},
            format="json",
        )
        assert created.status_code == 201
        body = created.json()
        assert (body["severity"], body["category"], body["playbook"], body["tags"]) == (
            "medium",
            "phishing",
            "phishing",
            ["mail"],
        )
        tasks = client.get(f"/api/v1/incidents/{body['reference']}/tasks/").json()["results"]
        assert [t["title"] for t in tasks] == [
            "Block the sender and the linked domains at the gateway",
            "Purge the messages from every mailbox",
            "Reset the credentials of everyone who clicked or answered",
        ]
        unknown = client.post("/api/v1/incidents/", {"title": "x", "template": "nope"}, format="json")
        assert unknown.status_code == 400
        assert list(unknown.json()) == ["template"]

    def test_in_the_browser(self, login, lead):
        client = login(lead)
        page = client.get(reverse("incidents:create"), {"playbook": "lost-device"})
        form = page.context["form"]
        assert (form.initial["severity"], form.initial["category"]) == ("low", "other")
        assert "Start from a playbook" in page.content.decode()
        response = client.post(
            reverse("incidents:create"),
            {"title": "Laptop left on a train", "severity": "low", "category": "other", "playbook": "lost-device",
             "summary": "", "records_affected": "", "tags": "device, Travel"},
        )  # fmt: skip
        assert response.status_code == 302
        incident = Incident.objects.get()
        assert incident.tasks.count() == 3
        assert list(incident.tags.values_list("name", flat=True)) == ["device", "travel"]


class TestTags:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            (["VPN", "vpn", " Vendor  Access "], ["vpn", "vendor access"]),
            ("gdpr, nis2,,", ["gdpr", "nis2"]),
            ([], []),
            (["t1199", "mitre:t1078.004"], ["t1199", "mitre:t1078.004"]),
        ],
    )
    def test_normalized(self, given, stored):
        assert services.tags_normalize(given) == stored

    @pytest.mark.parametrize("bad", [["-leading"], ["x" * 51], ["semi;colon"], [7], [f"t{n}" for n in range(21)]])
    def test_refused(self, bad):
        with pytest.raises(ValidationError) as refused:
            services.tags_normalize(bad)
        assert list(refused.value.message_dict) == ["tags"]

    def test_changing_tags_is_an_update_with_old_and_new(self, lead, incident):
        services.incident_update(incident=incident, actor=lead, version=1, changes={"tags": ["vpn", "vendor"]})
        services.incident_update(incident=incident, actor=lead, version=2, changes={"tags": ["vendor"]})
        incident.refresh_from_db()
        assert (list(incident.tags.values_list("name", flat=True)), incident.version) == (["vendor"], 3)
        entries = [e.data for e in Activity.objects.filter(incident=incident, verb="updated").order_by("id")]
        assert entries == [
            {"changes": {"tags": {"old": [], "new": ["vendor", "vpn"]}}},
            {"changes": {"tags": {"old": ["vendor", "vpn"], "new": ["vendor"]}}},
        ]
        assert Tag.objects.count() == 2  # a tag no incident uses stays for reuse

    def test_the_same_tags_in_another_order_change_nothing(self, lead, incident):
        services.incident_update(incident=incident, actor=lead, version=1, changes={"tags": ["b", "a"]})
        same = services.incident_update(incident=incident, actor=lead, version=2, changes={"tags": ["A", "b"]})
        assert same.version == 2

    def test_api_patch_and_bad_tag(self, api, lead, incident):
        client = api("incidents:read", "incidents:write", user=lead)
        url = f"/api/v1/incidents/{incident.reference}/"
        bad = client.patch(url, {"version": 1, "tags": ["ok", "no;pe"]}, format="json")
        assert bad.status_code == 400
        assert list(bad.json()) == ["tags"]
        good = client.patch(url, {"version": 1, "tags": ["Ransomware"]}, format="json")
        assert (good.status_code, good.json()["tags"], good.json()["version"]) == (200, ["ransomware"], 2)

    def test_a_writer_who_is_not_a_member_cannot_tag(self, outsider, incident):
        from django.core.exceptions import PermissionDenied

        with pytest.raises(PermissionDenied):
            services.incident_update(incident=incident, actor=outsider, version=1, changes={"tags": ["x"]})
        assert not incident.tags.exists()
