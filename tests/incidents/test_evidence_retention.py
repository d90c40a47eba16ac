"""Legal holds and purging: a closed incident's evidence files may be purged (rows, hashes and
chains stay), never while the incident is open or under legal hold."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from incidents import services as case_services
from incidents.evidence import services
from incidents.models import Activity, Evidence, LegalHold

from .evidence_support import add_file, api_url, files_under

pytestmark = pytest.mark.django_db


def purge(reference: str) -> tuple[list[str], str | None]:
    out = StringIO()
    try:
        call_command("purge_evidence", "--incident", reference, stdout=out)
    except CommandError as exc:
        return out.getvalue().splitlines(), str(exc)
    return out.getvalue().splitlines(), None


def close(incident, actor) -> None:
    case_services.incident_close(incident=incident, actor=actor, resolution="true_positive", closing_summary="Done.")


@pytest.fixture
def collected(lead, incident):
    """Two files and a text excerpt on the phishing incident."""
    first = add_file(incident, lead, name="a.log", content=b"alpha")
    second = add_file(incident, lead, name="b.log", content=b"beta")
    text = services.evidence_text_add(incident=incident, actor=lead, name="Headers", text="Received: x\n")
    return first, second, text


class TestPurge:
    def test_an_open_incident_is_never_purged(self, incident, collected, evidence_root):
        assert purge(incident.reference) == (
            [],
            f"{incident.reference} is new: only a closed incident's evidence can be purged.",
        )
        assert len(files_under(evidence_root / "store")) == 2

    def test_a_legal_hold_blocks_the_purge(self, lead, incident, collected, evidence_root):
        close(incident, lead)
        services.legal_hold_set(incident=incident, actor=lead, reason="Litigation: Doe v. Us")
        lines, error = purge(incident.reference)
        assert lines == []
        assert error.startswith(f"{incident.reference} is under legal hold (placed by {lead} on ")
        assert error.endswith(": Litigation: Doe v. Us): nothing was purged.")
        assert len(files_under(evidence_root / "store")) == 2
        assert not Evidence.objects.filter(purged_at__isnull=False).exists()
        assert not Evidence.objects.filter(custody_events__action="purge").exists()

    def test_a_closed_incident_without_hold_loses_its_files_and_keeps_its_records(
        self, lead, incident, collected, evidence_root, django_capture_on_commit_callbacks, login, api
    ):
        first, second, _ = collected
        close(incident, lead)
        hold = services.legal_hold_set(incident=incident, actor=lead, reason="Pending review")
        services.legal_hold_clear(incident=incident, actor=lead, reason="Review done")

        with django_capture_on_commit_callbacks(execute=True):
            lines, error = purge(incident.reference)

        assert error is None
        assert lines == [
            f"{incident.reference} evidence {first.pk} “a.log”: file purged",
            f"{incident.reference} evidence {second.pk} “b.log”: file purged",
            f"Purged 2 evidence files of {incident.reference}.",
        ]
        assert files_under(evidence_root / "store") == []
        kept = [(name, purged is None) for name, purged in Evidence.objects.values_list("name", "purged_at")]
        assert kept == [("a.log", False), ("b.log", False), ("Headers", True)]  # text stays
        first.refresh_from_db()
        assert [event.action for event in first.custody_events.order_by("sequence")] == ["collect", "purge"]
        assert Activity.objects.filter(incident=incident).first().text == (
            "purged 2 evidence files of the closed incident"
        )
        assert LegalHold.objects.get(pk=hold.pk).release_reason == "Review done"
        # The records still verify: a purged file is not "missing".
        out = StringIO()
        call_command("verify_evidence", stdout=out)
        assert out.getvalue().startswith("Verified 3 evidence items")
        # Downloads answer 410; the API says so too.
        page = login(lead).get(reverse("incidents:evidence-download", args=[incident.reference, first.pk]))
        assert page.status_code == 410
        assert "its hashes and custody remain" in page.content.decode()
        client = api("incidents:read", user=lead)
        gone = client.get(api_url(incident, f"{first.pk}/download/"))
        assert gone.status_code == 410
        assert gone.json()["detail"].startswith("The file of “a.log” was purged on ")
        item = client.get(api_url(incident, f"{first.pk}/")).json()
        assert item["purged_at"] is not None and item["download_url"] is None
        # Nothing left to purge the second time.
        assert purge(incident.reference) == ([f"{incident.reference}: no evidence files left to purge."], None)

    def test_an_unknown_incident(self):
        assert purge("IR-1999-0001") == ([], "No incident IR-1999-0001.")

    def test_a_person_purging_needs_the_legal_hold_row(self, responder, lead, incident, collected):
        close(incident, lead)
        with pytest.raises(Exception, match="Only the incident's lead or an admin"):
            services.evidence_purge(incident=incident, actor=responder)
        assert len(services.evidence_purge(incident=incident, actor=lead)) == 2


class TestLegalHold:
    def test_one_hold_at_a_time_and_a_reason_each_way(self, lead, incident):
        with pytest.raises(ValidationError) as no_reason:
            services.legal_hold_set(incident=incident, actor=lead, reason="  ")
        assert no_reason.value.message_dict == {"reason": ["Say why (the matter, who asked for the hold)."]}
        with pytest.raises(ValidationError, match="is not under legal hold"):
            services.legal_hold_clear(incident=incident, actor=lead, reason="x")
        services.legal_hold_set(incident=incident, actor=lead, reason="Regulator inquiry")
        with pytest.raises(ValidationError, match="is already under legal hold"):
            services.legal_hold_set(incident=incident, actor=lead, reason="Again")
        assert LegalHold.objects.filter(incident=incident).count() == 1

    def test_the_page_shows_it_and_the_lead_places_and_releases_it(self, login, lead, responder, incident):
        client = login(lead)
        url = reverse("incidents:legal-hold", args=[incident.reference])
        placed = client.post(url, {"action": "set", "reason": "Regulator inquiry"}, HTTP_HX_REQUEST="true")
        assert placed.status_code == 200
        body = placed.content.decode()
        assert "Legal hold</strong> since" in body and "Regulator inquiry" in body
        assert "Release legal hold" in body
        assert "placed the incident under legal hold: Regulator inquiry" in body  # activity, out of band
        page = login(responder).get(incident.get_absolute_url()).content.decode()
        assert "Regulator inquiry" in page
        assert "Release legal hold" not in page  # not theirs to release
        assert login(responder).post(url, {"action": "clear", "reason": "x"}).status_code == 403
        released = login(lead).post(url, {"action": "clear", "reason": "Closed by the regulator"})
        assert released.status_code == 302
        assert LegalHold.objects.get().release_reason == "Closed by the regulator"

    def test_the_api(self, api, lead, responder, outsider, restricted_incident):
        url = f"/api/v1/incidents/{restricted_incident.reference}/legal-hold/"
        client = api("incidents:read", "incidents:write", user=lead)
        assert client.get(url).json() == {"active": False, "reason": None, "set_by": None, "set_at": None}
        placed = client.post(url, {"active": True, "reason": "Litigation"}, format="json")
        assert placed.status_code == 200
        assert (placed.json()["active"], placed.json()["reason"], placed.json()["set_by"]) == (
            True,
            "Litigation",
            "lena",
        )
        refused = api("incidents:read", "incidents:write", user=responder).post(
            url, {"active": False, "reason": "x"}, format="json"
        )
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "Only the incident's lead or an admin may place or release a legal hold."},
        )
        assert api("incidents:read", user=outsider).get(url).status_code == 404
        bad = client.post(url, {"active": True, "reason": "Again", "until": "never"}, format="json")
        assert (bad.status_code, bad.json()) == (400, {"until": ["Unknown field."]})
        twice = client.post(url, {"active": True, "reason": "Again"}, format="json")
        assert twice.status_code == 400
        assert twice.json()["non_field_errors"][0].startswith(
            f"{restricted_incident.reference} is already under legal hold (placed by {lead} on "
        )
        released = client.post(url, {"active": False, "reason": "Settled"}, format="json")
        assert released.json()["active"] is False
