"""The evidence panel of the incident page (list, custody trail, forms, in-place writes), its
fixed query count, and the manifests it exports."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services as case_services
from incidents.evidence import services
from incidents.models import CustodyEvent, Evidence

from .evidence_support import AUTH_LOG_MD5, AUTH_LOG_SHA1, AUTH_LOG_SHA256, add_file

pytestmark = pytest.mark.django_db

MARKING = "Privileged & confidential — prepared at the direction of counsel"


class TestPanel:
    @pytest.mark.parametrize("items", [1, 6])
    def test_the_page_costs_a_fixed_number_of_queries(
        self, login, lead, responder, incident, items, django_assert_num_queries
    ):
        for n in range(items):
            evidence = add_file(incident, lead, name=f"host-{n}.log", content=f"log {n}".encode())
            services.evidence_transfer(evidence=evidence, actor=lead, recipient="Lab", reason="Imaging")
            services.evidence_access(evidence=evidence, actor=responder)
        services.legal_hold_set(incident=incident, actor=lead, reason="Litigation")
        case_services.task_add(incident=incident, actor=lead, title="Image the laptop", assignee=responder)
        client = login(lead)
        # Exactly 25 whatever the number of items and custody events: the 10 of the page without
        # evidence or indicators (tests/incidents/test_views.py) and
        # 11 the evidence the viewer may see, with its collectors,
        # 12 their custody trails, with the people who acted,
        # 13 the active legal hold, with who placed it,
        # 14 the indicators (none here),
        # 15 the vendors on the incident, 16 the registry's vendors not on it (the add form),
        # 17 the affected scope rows, 18-20 the timeline's milestones, key events and count,
        # 21 the paging state (the running escalation and the latest acknowledgement),
        # 22-25 the notification register's decisions, regimes, clocks and notices.
        with django_assert_num_queries(25):
            response = client.get(incident.get_absolute_url())
        body = response.content.decode()
        assert body.count('class="evidence-item"') == items
        assert body.count('class="custody-event ') == 3 * items
        assert "Litigation" in body

    @pytest.mark.parametrize("items", [1, 8])
    def test_the_api_list_costs_a_fixed_number_of_queries(self, api, lead, incident, items, django_assert_num_queries):
        for n in range(items):
            add_file(incident, lead, name=f"host-{n}.log", content=f"log {n}".encode())
        client = api("incidents:read", user=lead)
        client.get(f"/api/v1/incidents/{incident.reference}/evidence/")  # the key's first use stamps last_used_at
        # 1 the key with its user, 2 the visible incident, 3 one page of evidence with its collector
        # and incident joined (one row more than the page, to know if there is a next).
        with django_assert_num_queries(3):
            response = client.get(f"/api/v1/incidents/{incident.reference}/evidence/")
        assert len(response.json()["results"]) == items

    def test_each_item_shows_what_it_is(self, login, lead, incident):
        collected = timezone.now().replace(microsecond=0) - timezone.timedelta(hours=3)
        evidence = add_file(
            incident, lead, source_system="fw-edge-01", description="Firewall log", collected_at=collected
        )
        body = login(lead).get(incident.get_absolute_url()).content.decode()
        item = body[body.index(f'id="evidence-{evidence.pk}"') :]
        item = item[: item.index("</li>\n    \n    </ol>") if "</li>\n    \n    </ol>" in item else len(item)]
        assert "auth.log" in item
        assert f'<code class="hash" title="{AUTH_LOG_SHA256}">{AUTH_LOG_SHA256[:12]}…</code>' in item
        assert f'data-copy="{AUTH_LOG_SHA256}"' in item
        assert f"MD5 <code>{AUTH_LOG_MD5}</code> · SHA-1 <code>{AUTH_LOG_SHA1}</code>" in item
        assert "59\xa0bytes" in item and "text/plain" in item and "from fw-edge-01" in item
        assert "Firewall log" in item
        assert "<strong>Collected</strong>" in item  # the first custody event
        assert reverse("incidents:evidence-download", args=[incident.reference, evidence.pk]) in item

    def test_flags_are_badges(self, login, lead, restricted_incident):
        add_file(restricted_incident, lead, name="x.exe", content=b"MZ", malware=True, privileged=True)
        body = login(lead).get(restricted_incident.get_absolute_url()).content.decode()
        for badge in ('class="badge internal"', 'class="badge privileged"', 'class="badge malware"'):
            assert badge in body

    def test_transfer_in_place(self, login, lead, responder, incident):
        case_services.member_add(incident=incident, user=responder, actor=lead)  # working the case
        evidence = add_file(incident, lead)
        url = reverse("incidents:evidence-transfer", args=[incident.reference, evidence.pk])
        client = login(responder)
        refused = client.post(url, {"recipient": " ", "reason": "Imaging"}, HTTP_HX_REQUEST="true")
        assert refused.status_code == 200
        assert "This field is required." in refused.content.decode()
        assert evidence.custody_events.count() == 1
        done = client.post(url, {"recipient": "Lakeside DFIR", "reason": "Imaging"}, HTTP_HX_REQUEST="true")
        body = done.content.decode()
        assert "Recorded the transfer of “auth.log” to Lakeside DFIR." in body
        assert "to <strong>Lakeside DFIR</strong>: Imaging" in body  # the trail
        assert "transferred the evidence “auth.log” to Lakeside DFIR: Imaging" in body  # the activity, oob
        plain = client.post(url, {"recipient": "Counsel", "reason": "Privilege review"})
        assert plain.status_code == 302
        assert list(evidence.custody_events.values_list("action", "recipient")) == [
            ("collect", ""),
            ("transfer", "Lakeside DFIR"),
            ("transfer", "Counsel"),
        ]

    def test_who_is_offered_which_form(self, login, lead, executive, vendor, restricted_incident, incident):
        add_file(restricted_incident, lead, internal=False)
        vendor_page = login(vendor).get(restricted_incident.get_absolute_url()).content.decode()
        assert "Upload files" in vendor_page  # vendors contribute
        assert "Record transfer" not in vendor_page and "Place legal hold" not in vendor_page
        add_file(incident, lead)
        exec_page = login(executive).get(incident.get_absolute_url()).content.decode()
        assert "Upload files" not in exec_page and "Record transfer" not in exec_page
        assert "Export manifest" in exec_page  # what the list shows, as a file
        lead_page = login(lead).get(incident.get_absolute_url()).content.decode()
        assert "Record transfer" in lead_page and "Place legal hold" in lead_page


class TestManifest:
    @pytest.fixture
    def items(self, lead, incident):
        first = add_file(incident, lead, source_system="mail-gw", privileged=True)
        second = services.evidence_text_add(
            incident=incident, actor=lead, name='=HYPERLINK("http://x")', text="Received: x\n"
        )
        return first, second

    def test_csv(self, login, lead, incident, items):
        first, second = items
        response = login(lead).get(reverse("incidents:evidence-manifest", args=[incident.reference, "csv"]))
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith(
            f'attachment; filename="{incident.reference}-evidence-manifest-'
        )
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert list(rows[0]) == [
            "id", "name", "kind", "size", "content_type", "sha256", "md5", "sha1", "collected_by", "collected_at",
            "added_at", "source_system", "vendor", "description", "internal", "privileged", "malware", "purged_at",
            "custody_events", "custody_head", "privilege_marking",
        ]  # fmt: skip
        first.refresh_from_db()
        second.refresh_from_db()
        assert {key: rows[0][key] for key in ("name", "size", "sha256", "md5", "sha1", "collected_by")} == {
            "name": "auth.log",
            "size": "59",
            "sha256": AUTH_LOG_SHA256,
            "md5": AUTH_LOG_MD5,
            "sha1": AUTH_LOG_SHA1,
            "collected_by": "lena",
        }
        assert (rows[0]["privileged"], rows[0]["privilege_marking"], rows[0]["source_system"]) == (
            "true",
            MARKING,
            "mail-gw",
        )
        # Its own export is counted, and its head is the chain's head after it.
        assert (rows[0]["custody_events"], rows[0]["custody_head"]) == ("2", first.custody_head)
        # A name a spreadsheet would run as a formula is defused.
        assert rows[1]["name"] == '\'=HYPERLINK("http://x")'
        assert (rows[1]["kind"], rows[1]["privilege_marking"]) == ("text", "")
        assert list(CustodyEvent.objects.filter(action="export").values_list("evidence_id", "actor_name", "note")) == [
            (first.pk, "lena", "evidence manifest (csv)"),
            (second.pk, "lena", "evidence manifest (csv)"),
        ]

    def test_json(self, login, api, lead, incident, items):
        first, _ = items
        data = login(lead).get(reverse("incidents:evidence-manifest", args=[incident.reference, "json"])).json()
        assert (data["incident"], data["generated_by"], data["privilege_notice"]) == (
            incident.reference,
            "lena",
            MARKING,
        )
        assert [(row["name"], row["custody_events"]) for row in data["items"]] == [
            ("auth.log", 2),
            ('=HYPERLINK("http://x")', 2),
        ]
        via_api = api("incidents:read", user=lead).get(f"/api/v1/incidents/{incident.reference}/evidence/manifest/")
        assert via_api.status_code == 200
        assert [row["custody_events"] for row in via_api.json()["items"]] == [3, 3]
        assert Evidence.objects.get(pk=first.pk).custody_count == 3

    def test_an_unknown_format_is_not_a_route(self, login, lead, incident):
        assert login(lead).get(f"/incidents/{incident.reference}/evidence/manifest.xml").status_code == 404


def test_a_colleagues_evidence_reaches_an_open_page(login, lead, responder, incident):
    client = login(lead)
    page = client.get(incident.get_absolute_url()).content.decode()
    token = re.search(r'data-live-since="([^"]+)"', page).group(1)
    add_file(incident, responder, name="beacon.pcap", content=b"\xd4\xc3\xb2\xa1" + b"\x00" * 20)
    response = client.get(
        reverse("incidents:live", args=[incident.reference]), {"since": token}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert set(re.findall(r'hx-swap-oob="innerHTML:#([\w-]+)"', body)) == {
        "evidence-count",
        "evidence-export",
        "evidence-hold",
        "evidence-list",
        "case-activity",
        "live-status",
    }
    assert "beacon.pcap" in body
    assert "Upload files" not in body  # the add forms are never redrawn
