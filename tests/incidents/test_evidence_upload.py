"""Adding evidence: files through the API and the browser (one or many per request), text
excerpts, what is stored and hashed, and what is refused (400/403/404/413) leaving nothing behind.

The streamed 200 MB upload and its memory use are in test_evidence_streaming.py."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.models import Activity, CustodyEvent, Evidence, Incident

from .evidence_support import (
    AUTH_LOG,
    AUTH_LOG_MD5,
    AUTH_LOG_SHA1,
    AUTH_LOG_SHA256,
    add_file,
    api_url,
    files_under,
    upload_file,
)

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def nothing_left(evidence_root) -> None:
    assert Evidence.objects.count() == 0
    assert CustodyEvent.objects.count() == 0
    assert files_under(evidence_root / "store") == []
    assert files_under(evidence_root / "tmp") == []


class TestApiUpload:
    def test_a_file_is_stored_hashed_and_its_type_sniffed_from_the_bytes(self, api, lead, incident, evidence_root):
        client = api("incidents:read", "incidents:write", user=lead)
        assert Evidence.objects.count() == 0

        # The client claims a PNG; the bytes are text.
        response = client.post(
            api_url(incident), {"file": upload_file("auth.log", AUTH_LOG, "image/png")}, format="multipart"
        )

        assert response.status_code == 201, response.content
        (item,) = response.json()
        assert {key: item[key] for key in ("name", "kind", "size", "content_type", "sha256", "md5", "sha1")} == {
            "name": "auth.log",
            "kind": "file",
            "size": 59,
            "content_type": "text/plain",
            "sha256": AUTH_LOG_SHA256,
            "md5": AUTH_LOG_MD5,
            "sha1": AUTH_LOG_SHA1,
        }
        assert item["collected_by"] == "lena"
        assert item["internal"] is False  # an unrestricted incident's content is shared by default
        assert item["custody_events"] == 1
        assert item["privilege_marking"] is None
        assert item["download_url"] == f"/api/v1/incidents/{incident.reference}/evidence/{item['id']}/download/"
        # The bytes are in the evidence storage under the incident's reference, nowhere else.
        (stored,) = files_under(evidence_root / "store")
        assert stored.startswith(f"{incident.reference}/")
        assert (evidence_root / "store" / stored).read_bytes() == AUTH_LOG
        assert files_under(evidence_root / "tmp") == []  # moved, not copied
        assert Evidence.objects.get().stored_name == stored
        entry = Activity.objects.filter(incident=incident).first()
        assert (entry.verb, entry.text, entry.internal) == ("evidence_added", "added the evidence “auth.log”", False)

    def test_many_files_in_one_request(self, api, lead, incident, evidence_root):
        client = api("incidents:read", "incidents:write", user=lead)
        files = [upload_file("report.pdf", PDF), upload_file("screenshot.png", PNG), upload_file("lure.html", HTML)]

        response = client.post(api_url(incident), {"file": files, "source_system": "mail-gw-02"}, format="multipart")

        assert response.status_code == 201, response.content
        rows = [(item["name"], item["content_type"], item["source_system"], item["sha256"]) for item in response.json()]
        assert rows == [
            ("report.pdf", "application/pdf", "mail-gw-02", hashlib.sha256(PDF).hexdigest()),
            ("screenshot.png", "image/png", "mail-gw-02", hashlib.sha256(PNG).hexdigest()),
            ("lure.html", "text/html", "mail-gw-02", hashlib.sha256(HTML).hexdigest()),
        ]
        assert len(files_under(evidence_root / "store")) == 3

    def test_description_flags_and_collection_time(self, api, lead, incident):
        client = api("incidents:read", "incidents:write", user=lead)
        collected = (timezone.now() - timedelta(days=2)).replace(microsecond=0)
        response = client.post(
            api_url(incident),
            {
                "file": upload_file("dropper.bin", b"MZ\x90\x00 not really malware"),
                "collected_at": collected.isoformat(),
                "description": "From the finance laptop's Downloads folder",
                "privileged": "true",
                "malware": "true",
                "internal": "true",
            },
            format="multipart",
        )
        assert response.status_code == 201, response.content
        (item,) = response.json()
        assert (item["privileged"], item["malware"], item["internal"]) == (True, True, True)
        assert item["privilege_marking"] == "Privileged & confidential — prepared at the direction of counsel"
        assert item["collected_at"].startswith(collected.strftime("%Y-%m-%dT%H:%M:%S"))
        assert item["description"] == "From the finance laptop's Downloads folder"

    def test_internal_defaults_to_restricted_and_a_vendors_evidence_is_never_internal(
        self, api, lead, vendor, restricted_incident
    ):
        staff = api("incidents:read", "incidents:write", user=lead)
        ours = staff.post(api_url(restricted_incident), {"file": upload_file("a.log", b"a")}, format="multipart")
        theirs = api("incidents:read", "incidents:write", user=vendor).post(
            api_url(restricted_incident), {"file": upload_file("b.log", b"b"), "internal": "true"}, format="multipart"
        )
        assert (ours.status_code, theirs.status_code) == (201, 201)
        assert ours.json()[0]["internal"] is True
        assert theirs.json()[0]["internal"] is False

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            ({}, {"file": ["This field is required."]}),
            ({"file": upload_file("empty.log", b"")}, {"file": {"0": ["The submitted file is empty."]}}),
            ({"file": upload_file("a.log", b"a"), "sha256": "0" * 64}, {"sha256": ["This field is read-only."]}),
            ({"file": upload_file("a.log", b"a"), "colour": "red"}, {"colour": ["Unknown field."]}),
            (
                {"file": upload_file("a.log", b"a"), "collected_at": "2999-01-01T00:00:00Z"},
                {"collected_at": ["The collection time cannot be in the future."]},
            ),
            (
                {"file": upload_file("a.log", b"a"), "source_system": "x" * 201},
                {"source_system": ["Ensure this field has no more than 200 characters."]},
            ),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
        self, api, lead, incident, evidence_root, fields, errors
    ):
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident), fields, format="multipart"
        )
        assert response.status_code == 400
        assert response.json() == errors
        nothing_left(evidence_root)

    def test_json_is_not_an_upload(self, api, lead, incident):
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident), {"file": "aGVsbG8="}, format="json"
        )
        assert response.status_code == 415

    def test_who_may_not_add_evidence(self, api, executive, outsider, incident, restricted_incident, evidence_root):
        readers = api("incidents:read", "incidents:write", user=executive)
        refused = readers.post(api_url(incident), {"file": upload_file("a.log", b"a")}, format="multipart")
        assert (refused.status_code, refused.json()) == (403, {"detail": "You may not add to this incident."})
        hidden = api("incidents:read", "incidents:write", user=outsider).post(
            api_url(restricted_incident), {"file": upload_file("a.log", b"a")}, format="multipart"
        )
        assert (hidden.status_code, hidden.json()) == (404, {"detail": "Not found."})
        read_only_key = api("incidents:read", user=incident.lead).post(
            api_url(incident), {"file": upload_file("a.log", b"a")}, format="multipart"
        )
        assert read_only_key.status_code == 403
        nothing_left(evidence_root)

    def test_a_write_only_key_learns_the_ids_only(self, api, lead, incident):
        response = api("incidents:write", user=lead).post(
            api_url(incident), {"file": [upload_file("a.log", b"a"), upload_file("b.log", b"b")]}, format="multipart"
        )
        assert response.status_code == 201
        assert response.json() == [{"id": pk} for pk in Evidence.objects.order_by("id").values_list("id", flat=True)]

    def test_file_names_are_cleaned(self, api, lead, incident):
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident), {"file": upload_file("..\\..\\evil\u202e\x07name.txt", b"a")}, format="multipart"
        )
        assert response.status_code == 201
        # Django drops the path; the control and bidi characters go too.
        assert response.json()[0]["name"] == "evilname.txt"


class TestOverSize:
    """``EVIDENCE_MAX_BYTES`` per file: 413, and no row, no stored file, no temporary file."""

    @pytest.fixture(autouse=True)
    def small_limit(self, settings):
        settings.EVIDENCE_MAX_BYTES = 1000

    def test_exactly_the_limit_is_accepted(self, api, lead, incident):
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident), {"file": upload_file("a.bin", b"x" * 1000)}, format="multipart"
        )
        assert response.status_code == 201
        assert response.json()[0]["size"] == 1000

    def test_api_one_byte_over_is_a_413_and_leaves_nothing(self, api, lead, incident, evidence_root):
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident), {"file": upload_file("big.bin", b"x" * 1001)}, format="multipart"
        )
        assert response.status_code == 413
        assert response.json() == {"detail": "Evidence file too large: the limit is 1000 bytes."}
        nothing_left(evidence_root)

    def test_api_a_large_file_after_a_small_one_leaves_neither(self, api, lead, incident, evidence_root):
        files = [upload_file("small.log", b"fine"), upload_file("big.bin", b"x" * 5000)]
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident), {"file": files}, format="multipart"
        )
        assert response.status_code == 413
        nothing_left(evidence_root)

    def test_api_a_request_over_the_limit_is_refused_before_it_is_read(self, api, lead, incident, evidence_root):
        # Content-Length past EVIDENCE_MAX_BYTES + 1 MiB for the form fields.
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident), {"file": upload_file("huge.bin", b"x" * (1024 * 1024 + 2000))}, format="multipart"
        )
        assert response.status_code == 413
        assert response.json() == {"detail": "Upload too large: the limit is 1049576 bytes."}
        nothing_left(evidence_root)

    def test_browser_form_is_a_413_page_with_the_error_on_the_form(self, login, lead, incident, evidence_root):
        response = login(lead).post(
            reverse("incidents:evidence-upload", args=[incident.reference]),
            {"file": upload_file("disk.img", b"x" * 1001)},
        )
        assert response.status_code == 413
        body = response.content.decode()
        assert "“disk.img” is larger than the 1000\xa0bytes limit (1,000 bytes): nothing was saved." in body
        assert 'id="evidence-panel"' in body  # the incident page, with the form
        nothing_left(evidence_root)

    def test_browser_script_gets_json(self, login, lead, incident, evidence_root):
        response = login(lead).post(
            reverse("incidents:evidence-upload", args=[incident.reference]),
            {"file": upload_file("disk.img", b"x" * 1001)},
            HTTP_ACCEPT="application/json",
        )
        assert response.status_code == 413
        assert response.json() == {
            "errors": {
                "__all__": ["“disk.img” is larger than the 1000\xa0bytes limit (1,000 bytes): nothing was saved."]
            }
        }
        nothing_left(evidence_root)

    def test_htmx_keeps_the_413(self, login, lead, incident, evidence_root):
        response = login(lead).post(
            reverse("incidents:evidence-upload", args=[incident.reference]),
            {"file": upload_file("disk.img", b"x" * 1001)},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 413
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="evidence-panel">')
        assert "is larger than the 1000\xa0bytes limit" in body
        nothing_left(evidence_root)


class TestBrowserUpload:
    def url(self, incident) -> str:
        return reverse("incidents:evidence-upload", args=[incident.reference])

    def test_the_plain_form_takes_many_files_and_redirects(self, login, lead, incident, evidence_root):
        client = login(lead)
        response = client.post(
            self.url(incident),
            {"file": [upload_file("a.log", b"alpha"), upload_file("b.log", b"beta")], "source_system": "siem"},
        )
        assert response.status_code == 302
        assert response["Location"] == incident.get_absolute_url()
        assert list(Evidence.objects.order_by("id").values_list("name", "source_system", "size")) == [
            ("a.log", "siem", 5),
            ("b.log", "siem", 4),
        ]
        page = client.get(incident.get_absolute_url()).content.decode()
        assert "Added 2 evidence files." in page
        assert "a.log" in page and "b.log" in page

    def test_htmx_answers_the_panel_and_the_activity(self, login, lead, incident):
        response = login(lead).post(
            self.url(incident), {"file": upload_file("a.log", b"alpha")}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="evidence-panel">')
        assert "a.log" in body and "Added 1 evidence file." in body
        assert 'hx-swap-oob="innerHTML:#case-activity"' in body
        assert "added the evidence “a.log”" in body

    def test_one_file_per_request_with_json_for_the_drag_and_drop(self, login, lead, incident):
        response = login(lead).post(
            self.url(incident), {"file": upload_file("a.log", b"alpha")}, HTTP_ACCEPT="application/json"
        )
        assert response.status_code == 201
        evidence = Evidence.objects.get()
        assert response.json() == {
            "evidence": [
                {
                    "id": evidence.pk,
                    "name": "a.log",
                    "size": 5,
                    "content_type": "text/plain",
                    "sha256": hashlib.sha256(b"alpha").hexdigest(),
                }
            ]
        }

    def test_errors_come_back_on_the_form(self, login, lead, incident, evidence_root):
        client = login(lead)
        future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        plain = client.post(self.url(incident), {"file": upload_file("a.log", b"a"), "collected_at": future})
        assert plain.status_code == 400
        assert "The collection time cannot be in the future." in plain.content.decode()
        none = client.post(self.url(incident), {}, HTTP_HX_REQUEST="true")
        assert none.status_code == 200  # htmx swaps the panel with its errors, like the other forms
        assert "This field is required." in none.content.decode()
        as_json = client.post(self.url(incident), {}, HTTP_ACCEPT="application/json")
        assert (as_json.status_code, as_json.json()) == (400, {"errors": {"file": ["This field is required."]}})
        nothing_left(evidence_root)

    def test_the_csrf_check_still_applies(self, lead, incident, evidence_root):
        client = Client(enforce_csrf_checks=True)
        client.force_login(lead)
        response = client.post(self.url(incident), {"file": upload_file("a.log", b"alpha")})
        assert response.status_code == 403
        nothing_left(evidence_root)

    def test_readers_are_refused_before_the_body_is_read(
        self, login, executive, outsider, incident, restricted_incident
    ):
        assert login(executive).post(self.url(incident), {"file": upload_file("a.log", b"a")}).status_code == 403
        hidden = login(outsider).post(self.url(restricted_incident), {"file": upload_file("a.log", b"a")})
        assert hidden.status_code == 404
        assert not Evidence.objects.exists()

    def test_the_form_offers_no_internal_tick_to_a_vendor(self, login, vendor, responder, restricted_incident):
        vendor_page = login(vendor).get(restricted_incident.get_absolute_url())
        assert "internal" not in vendor_page.context["upload_form"].fields
        staff_form = login(responder).get(restricted_incident.get_absolute_url()).context["upload_form"]
        assert staff_form.fields["internal"].initial is True  # restricted incident


class TestTextEvidence:
    HEADERS = (
        "Received: from mx.evil.example (203.0.113.77)\r\n\tby mx1.example.com; Tue, 3 Mar 2026\r\nSubject: Invoice\r\n"
    )

    def test_api_adds_an_excerpt_kept_and_hashed_exactly_as_sent(self, api, lead, incident):
        text = "  " + self.HEADERS  # leading blanks and the trailing newline are part of the evidence
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident, "text/"), {"name": "Headers of the phishing e-mail", "text": text}, format="json"
        )
        assert response.status_code == 201, response.content
        item = response.json()
        data = text.encode("utf-8")
        assert (item["kind"], item["name"], item["content_type"], item["size"]) == (
            "text",
            "Headers of the phishing e-mail",
            "text/plain",
            len(data),
        )
        assert (item["sha256"], item["md5"], item["sha1"]) == (
            hashlib.sha256(data).hexdigest(),
            hashlib.md5(data).hexdigest(),  # noqa: S324 - the hash under test
            hashlib.sha1(data).hexdigest(),  # noqa: S324
        )
        assert Evidence.objects.get().text == text

    @pytest.mark.parametrize(
        ("body", "errors"),
        [
            ({"name": "Headers", "text": "   "}, {"text": ["The excerpt is empty."]}),
            ({"text": "abc"}, {"name": ["This field is required."]}),
            ({"name": "Headers", "text": "a\x00b"}, {"text": ["Null characters are not allowed."]}),
            ({"name": "Headers", "text": "a", "kind": "file"}, {"kind": ["This field is read-only."]}),
        ],
    )
    def test_bad_excerpts_are_400s(self, api, lead, incident, body, errors):
        response = api("incidents:read", "incidents:write", user=lead).post(
            api_url(incident, "text/"), body, format="json"
        )
        assert (response.status_code, response.json()) == (400, errors)
        assert not Evidence.objects.exists()

    def test_browser_form(self, login, lead, incident):
        client = login(lead)
        url = reverse("incidents:evidence-text", args=[incident.reference])
        response = client.post(url, {"name": "Mail headers", "text": self.HEADERS}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert "Mail headers" in response.content.decode()
        evidence = Evidence.objects.get()
        assert (evidence.kind, evidence.text, evidence.size) == ("text", self.HEADERS, len(self.HEADERS))
        refused = client.post(url, {"name": "", "text": ""})
        assert refused.status_code == 400
        assert Evidence.objects.count() == 1


def test_adding_evidence_moves_the_incident_on_for_live_pages(lead, incident):
    before = Incident.objects.get(pk=incident.pk).updated_at
    add_file(incident, lead)
    after = Incident.objects.get(pk=incident.pk)
    assert after.updated_at > before
    assert after.version == incident.version  # evidence is not an edit of the incident's fields


def test_too_many_files_in_one_api_request_is_a_json_400_and_stores_nothing(
    api, lead, incident, evidence_root, settings
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    client = api("incidents:read", "incidents:write", user=lead)
    files = [upload_file(f"log-{n}.txt", b"line\n") for n in range(3)]

    response = client.post(api_url(incident), {"file": files}, format="multipart")

    assert response.status_code == 400
    assert response.json() == {"detail": "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES."}
    nothing_left(evidence_root)


def test_evidence_names_the_vendor_it_came_from(api, admin, lead, vendor, incident, evidence_root):
    """Staff name any vendor of the registry; a vendor collaborator's evidence is always their own
    company's, whatever they send. The vendor shows in the API, on the page and in the manifest."""
    from incidents import services as case_services
    from incidents.vendors import services as vendor_services

    northwind = vendor_services.vendor_create(actor=admin, name="Northwind MSP", tier="critical")
    contoso = vendor_services.vendor_create(actor=admin, name="Contoso IT", tier="high")
    vendor.vendor = northwind
    vendor.save(update_fields=["vendor"])
    case_services.member_add(incident=incident, user=vendor, actor=lead)
    staff = api("incidents:read", "incidents:write", user=lead)
    theirs = api("incidents:read", "incidents:write", user=vendor)

    named = staff.post(api_url(incident), {"file": upload_file("edr.csv", b"a,b\n"), "vendor": contoso.pk}, "multipart")
    own = theirs.post(api_url(incident), {"file": upload_file("their.log", b"ok\n")}, format="multipart")
    other = theirs.post(api_url(incident), {"file": upload_file("x.log", b"x\n"), "vendor": contoso.pk}, "multipart")
    unknown = staff.post(api_url(incident), {"file": upload_file("y.log", b"y\n"), "vendor": 999999}, "multipart")

    assert (named.status_code, named.json()[0]["vendor"]) == (201, "Contoso IT")
    assert (own.status_code, own.json()[0]["vendor"]) == (201, "Northwind MSP")
    assert (other.status_code, other.json()) == (400, {"vendor": ["You can only name your own company."]})
    assert unknown.status_code == 400 and list(unknown.json()) == ["vendor"]
    assert list(Evidence.objects.order_by("id").values_list("name", "vendor__name")) == [
        ("edr.csv", "Contoso IT"),
        ("their.log", "Northwind MSP"),
    ]
    manifest = staff.get(f"{api_url(incident)}manifest/").json()
    assert [(item["name"], item["vendor"]) for item in manifest["items"]] == [
        ("edr.csv", "Contoso IT"),
        ("their.log", "Northwind MSP"),
    ]
