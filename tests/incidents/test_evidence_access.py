"""Who may read evidence, and how it is sent: the rule-table rows for evidence, one 404 for what
does not exist and what may not be seen, vendor collaborators and internal evidence, and the
download itself (attachment, nosniff, sandbox, X-Accel-Redirect, the malware ZIP)."""

from __future__ import annotations

import io
import zipfile

import pytest
import pyzipper
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from incidents.evidence import services
from incidents.models import Activity, CustodyEvent, Evidence

from . import test_permissions
from .evidence_support import AUTH_LOG, add_file, api_url, files_under
from .test_permissions import PERSONAS, Case

pytestmark = pytest.mark.django_db

# The rule table's personas on one incident (tests/incidents/test_permissions.py), as a fixture here.
personas = test_permissions.case

MARKING = "Privileged & confidential — prepared at the direction of counsel"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"

# The rule table's evidence rows, written out (the specification; never read from RULES).
EVIDENCE_RULES = {
    "download_evidence": ("admin", "lead", "responder", "vendor", "observer", "writer"),
    "transfer_evidence": ("admin", "lead", "responder"),
    "legal_hold": ("admin", "lead"),
}


def download_url(evidence: Evidence) -> str:
    return reverse("incidents:evidence-download", args=[evidence.incident.reference, evidence.pk])


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def accesses(evidence: Evidence) -> list[tuple[str, str]]:
    return list(CustodyEvent.objects.filter(evidence=evidence, action="access").values_list("actor_name", "note"))


# --- The rule table, cell by cell -----------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_download_evidence(personas: Case, persona, client):
    evidence = add_file(personas.incident, personas["lena"])
    client.force_login(personas[persona])
    response = client.get(download_url(evidence))
    if PERSONAS[persona] in EVIDENCE_RULES["download_evidence"]:
        assert response.status_code == 200
        assert body_of(response) == AUTH_LOG
        assert accesses(evidence) == [(persona, "download")]
    else:
        assert response.status_code == 403
        assert accesses(evidence) == []


@pytest.mark.parametrize("persona", PERSONAS)
def test_transfer_evidence(personas: Case, persona):
    evidence = add_file(personas.incident, personas["lena"])

    def transfer():
        return services.evidence_transfer(
            evidence=evidence, actor=personas[persona], recipient="Lakeside DFIR", reason="Disk imaging"
        )

    if PERSONAS[persona] not in EVIDENCE_RULES["transfer_evidence"]:
        with pytest.raises(PermissionDenied) as refused:
            transfer()
        assert str(refused.value) == (
            "Only members working this incident (its lead and responders) may transfer evidence."
        )
        assert evidence.custody_events.count() == 1
        return
    event = transfer()
    assert (event.sequence, event.action, event.actor_name, event.recipient, event.note) == (
        2,
        "transfer",
        persona,
        "Lakeside DFIR",
        "Disk imaging",
    )
    entry = Activity.objects.filter(incident=personas.incident).first()
    assert entry.text == "transferred the evidence “auth.log” to Lakeside DFIR: Disk imaging"


@pytest.mark.parametrize("persona", PERSONAS)
def test_legal_hold(personas: Case, persona):
    def place():
        return services.legal_hold_set(
            incident=personas.incident, actor=personas[persona], reason="Litigation: Doe v. Us"
        )

    if PERSONAS[persona] not in EVIDENCE_RULES["legal_hold"]:
        with pytest.raises(PermissionDenied) as refused:
            place()
        assert str(refused.value) == "Only the incident's lead or an admin may place or release a legal hold."
        return
    hold = place()
    assert (hold.set_by, hold.reason, hold.released_at) == (personas[persona], "Litigation: Doe v. Us", None)
    services.legal_hold_clear(incident=personas.incident, actor=personas[persona], reason="Settled")
    assert list(Activity.objects.filter(incident=personas.incident).values_list("verb", "internal")[:2]) == [
        ("legal_hold_cleared", True),
        ("legal_hold_set", True),
    ]


def test_adding_evidence_is_the_contribute_row(personas: Case):
    # Observers and readers may not add evidence, like findings; the rest of the row is in
    # test_permissions (contribute) and test_evidence_upload.
    for persona in ("olga", "erin"):
        with pytest.raises(PermissionDenied, match=r"You may not add to this incident\."):
            add_file(personas.incident, personas[persona])
    assert add_file(personas.incident, personas["victor"]).collected_by == personas["victor"]


# --- One 404 for "does not exist" and "may not see" -------------------------------------------
class TestNotFound:
    def test_an_outsider_gets_the_404_of_evidence_that_does_not_exist(
        self, login, lead, outsider, restricted_incident, incident
    ):
        hidden = add_file(restricted_incident, lead)
        client = login(outsider)
        urls = [
            download_url(hidden),  # exists, restricted incident
            reverse("incidents:evidence-download", args=[restricted_incident.reference, hidden.pk + 1000]),
            reverse("incidents:evidence-download", args=[incident.reference, hidden.pk]),  # another incident's
            reverse("incidents:evidence-download", args=["IR-1999-0001", hidden.pk]),
        ]
        responses = [client.get(url) for url in urls]
        assert [response.status_code for response in responses] == [404] * 4
        assert len({response.content for response in responses}) == 1
        assert accesses(hidden) == []

    def test_the_api_says_the_same_for_both(self, api, lead, outsider, restricted_incident):
        hidden = add_file(restricted_incident, lead)
        client = api("incidents:read", "incidents:write", user=outsider)
        for tail in (f"{hidden.pk}/", f"{hidden.pk}/download/", f"{hidden.pk}/custody/", ""):
            seen = client.get(api_url(restricted_incident, tail))
            assert (seen.status_code, seen.json()) == (404, {"detail": "Not found."}), tail
        missing = api("incidents:read", user=lead).get(api_url(restricted_incident, f"{hidden.pk + 1000}/download/"))
        assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
        transfer = client.post(
            api_url(restricted_incident, f"{hidden.pk}/transfer/"), {"recipient": "x", "reason": "y"}, format="json"
        )
        assert transfer.status_code == 404

    def test_a_vendor_gets_the_404_of_nothing_for_internal_evidence(self, login, lead, vendor, restricted_incident):
        internal = add_file(restricted_incident, lead)  # internal by default on a restricted incident
        assert internal.internal is True
        client = login(vendor)
        hidden = client.get(download_url(internal))
        missing = client.get(reverse("incidents:evidence-download", args=[restricted_incident.reference, 999_999]))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content == missing.content


# --- Executives and vendors ---------------------------------------------------------------------
class TestExecutive:
    def test_sees_the_list_but_never_the_bytes(self, login, api, lead, executive, incident):
        evidence = add_file(incident, lead)
        page = login(executive).get(incident.get_absolute_url()).content.decode()
        assert "auth.log" in page
        assert download_url(evidence) not in page  # no link offered
        assert login(executive).get(download_url(evidence)).status_code == 403
        client = api("incidents:read", user=executive)
        assert [item["name"] for item in client.get(api_url(incident)).json()["results"]] == ["auth.log"]
        refused = client.get(api_url(incident, f"{evidence.pk}/download/"))
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "You may not download evidence of this incident."},
        )
        assert accesses(evidence) == []


class TestVendor:
    @pytest.fixture
    def shared_and_internal(self, lead, restricted_incident):
        shared = add_file(restricted_incident, lead, name="northwind-edr.csv", content=b"host,time\n", internal=False)
        internal = add_file(restricted_incident, lead, name="soc-missed-alert.txt", content=b"our miss")
        return shared, internal

    def test_never_sees_internal_evidence_anywhere(self, login, api, vendor, restricted_incident, shared_and_internal):
        shared, internal = shared_and_internal
        page = login(vendor).get(restricted_incident.get_absolute_url()).content.decode()
        assert "northwind-edr.csv" in page
        assert "soc-missed-alert.txt" not in page
        activity = [
            entry.text
            for entry in login(vendor).get(restricted_incident.get_absolute_url()).context["incident"].recent_activity
        ]
        assert "added the evidence “northwind-edr.csv”" in activity
        assert "added the evidence “soc-missed-alert.txt”" not in activity

        client = api("incidents:read", "incidents:write", user=vendor)
        assert [item["name"] for item in client.get(api_url(restricted_incident)).json()["results"]] == [
            "northwind-edr.csv"
        ]
        for tail in (f"{internal.pk}/", f"{internal.pk}/download/", f"{internal.pk}/custody/"):
            assert client.get(api_url(restricted_incident, tail)).status_code == 404, tail
        manifest = client.get(api_url(restricted_incident, "manifest/")).json()
        assert [item["name"] for item in manifest["items"]] == ["northwind-edr.csv"]
        csv_manifest = login(vendor).get(
            reverse("incidents:evidence-manifest", args=[restricted_incident.reference, "csv"])
        )
        assert b"northwind-edr.csv" in csv_manifest.content
        assert b"soc-missed-alert" not in csv_manifest.content
        # The manifest's export was recorded on what they saw only.
        assert internal.custody_events.filter(action="export").count() == 0
        assert shared.custody_events.filter(action="export").count() == 2

    def test_downloads_shared_evidence(self, login, vendor, shared_and_internal):
        shared, _ = shared_and_internal
        response = login(vendor).get(download_url(shared))
        assert response.status_code == 200
        assert body_of(response) == b"host,time\n"
        assert accesses(shared) == [("victor", "download")]


# --- The download itself ----------------------------------------------------------------------
class TestDownload:
    def test_an_html_file_is_an_attachment_never_rendered(self, login, lead, incident):
        evidence = add_file(incident, lead, name="lure.html", content=HTML)
        assert evidence.content_type == "text/html"  # sniffed; but not what is served
        response = login(lead).get(download_url(evidence))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"] == 'attachment; filename="lure.html"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response["Cache-Control"] == "private, no-store"
        assert body_of(response) == HTML

    def test_the_api_sends_the_same_and_accepts_any_accept_header(self, api, lead, incident):
        evidence = add_file(incident, lead, name="lure.html", content=HTML)
        client = api("incidents:read", user=lead)
        response = client.get(api_url(incident, f"{evidence.pk}/download/"), HTTP_ACCEPT="application/octet-stream")
        assert response.status_code == 200
        assert response["Content-Disposition"] == 'attachment; filename="lure.html"'
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert body_of(response) == HTML
        assert accesses(evidence) == [("lena", "download")]

    def test_names_are_quoted_safely(self, login, lead, incident):
        evidence = add_file(incident, lead, name='say "hi"; x=.txt', content=b"a")
        unicode = add_file(incident, lead, name="Übersicht—Q1.txt", content=b"b")
        client = login(lead)
        assert client.get(download_url(evidence))["Content-Disposition"] == (
            'attachment; filename="say \\"hi\\"; x=.txt"'
        )
        assert client.get(download_url(unicode))["Content-Disposition"] == (
            "attachment; filename*=utf-8''%C3%9Cbersicht%E2%80%94Q1.txt"
        )

    def test_a_text_excerpt_downloads_as_a_txt_attachment(self, login, lead, incident):
        text = "Received: from mx.evil.example\r\n"
        evidence = services.evidence_text_add(incident=incident, actor=lead, name="Mail headers", text=text)
        response = login(lead).get(download_url(evidence))
        assert response["Content-Disposition"] == 'attachment; filename="Mail headers.txt"'
        assert body_of(response) == text.encode()

    def test_x_accel_redirect_hands_the_bytes_to_nginx(self, login, lead, incident, settings):
        settings.EVIDENCE_X_ACCEL_REDIRECT = "/_evidence/"
        evidence = add_file(incident, lead, name="lure.html", content=HTML)
        response = login(lead).get(download_url(evidence))
        assert response.status_code == 200
        assert response["X-Accel-Redirect"] == f"/_evidence/{evidence.stored_name}"
        assert response.content == b""
        assert response["Content-Disposition"] == 'attachment; filename="lure.html"'
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert accesses(evidence) == [("lena", "download")]

    def test_malware_only_inside_a_zip_protected_by_the_password_infected(self, login, lead, incident, evidence_root):
        sample = b"MZ\x90\x00\x03" + bytes(range(256)) * 400  # not malware; the flag is what counts
        evidence = add_file(incident, lead, name="invoice.exe", content=sample, malware=True, privileged=True)
        response = login(lead).get(download_url(evidence))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        assert response["Content-Disposition"] == 'attachment; filename="invoice.exe.zip"'
        assert response["X-Legal-Privilege"] == "Privileged & confidential - prepared at the direction of counsel"
        archive = io.BytesIO(body_of(response))  # read to the end, the response is closed
        assert files_under(evidence_root / "tmp") == []  # the ZIP was a temporary file, deleted
        with pyzipper.AESZipFile(archive) as opened:
            assert opened.namelist() == ["invoice.exe"]
            opened.setpassword(b"infected")
            assert opened.read("invoice.exe") == sample
            assert MARKING.encode() in opened.comment
            opened.setpassword(b"wrong")
            with pytest.raises(RuntimeError, match="Bad password"):
                opened.read("invoice.exe")
        with zipfile.ZipFile(archive) as plain, pytest.raises(RuntimeError, match="encrypted"):
            plain.read("invoice.exe")
        assert accesses(evidence) == [("lena", "download")]

    def test_every_download_is_in_the_chain_of_custody(self, login, api, lead, responder, incident):
        evidence = add_file(incident, lead)
        login(responder).get(download_url(evidence))
        api("incidents:read", user=lead).get(api_url(incident, f"{evidence.pk}/download/"))
        trail = api("incidents:read", user=lead).get(api_url(incident, f"{evidence.pk}/custody/")).json()["results"]
        assert [(event["sequence"], event["action"], event["actor"]) for event in trail] == [
            (1, "collect", "lena"),
            (2, "access", "ravi"),
            (3, "access", "lena"),
        ]


class TestPrivilegeMarking:
    def test_shown_with_every_view_and_export(self, login, api, lead, incident):
        privileged = add_file(incident, lead, name="counsel-memo.pdf", content=b"%PDF-1.4 memo", privileged=True)
        add_file(incident, lead, name="plain.log", content=b"plain")
        client = login(lead)
        page = client.get(incident.get_absolute_url()).content.decode()
        shown = MARKING.replace("&", "&amp;")
        item = page[page.index(f'id="evidence-{privileged.pk}"') :]
        assert shown in item[: item.index("</li>")]
        assert page.count(f'<p class="privilege-marking" role="note">{shown}</p>') == 1
        api_item = api("incidents:read", user=lead).get(api_url(incident, f"{privileged.pk}/")).json()
        assert api_item["privilege_marking"] == MARKING
        assert client.get(download_url(privileged))["X-Legal-Privilege"] == (
            "Privileged & confidential - prepared at the direction of counsel"
        )
        manifest = client.get(reverse("incidents:evidence-manifest", args=[incident.reference, "json"]))
        data = manifest.json()
        assert data["privilege_notice"] == MARKING
        assert [(row["name"], row["privilege_marking"]) for row in data["items"]] == [
            ("counsel-memo.pdf", MARKING),
            ("plain.log", None),
        ]
