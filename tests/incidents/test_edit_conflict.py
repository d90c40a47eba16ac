"""The edit page's conflict (409): what the others changed, field by field and by whom, beside
what the editor typed, and applying the editor's changes on top in one click
(incidents/conflicts.py, the incident_edit view)."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Activity, Incident, Severity, Verb

pytestmark = pytest.mark.django_db


class _FormReader(HTMLParser):
    """What a browser would post from the first ``<form>`` whose class contains ``css_class``."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class, self.inside, self.done = css_class, False, False
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.done and self.css_class in (a.get("class") or "").split():
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((a["name"], a.get("value", "on")))
            elif a.get("type") not in ("submit", "button"):
                self.data.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.data.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data.append((self._textarea, html.unescape(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "form":
            self.inside, self.done = False, True


def form_data(page: str, css_class: str = "form") -> dict[str, list[str]]:
    reader = _FormReader(css_class)
    reader.feed(page)
    data: dict[str, list[str]] = {}
    for name, value in reader.data:
        data.setdefault(name, []).append(value)
    return data


def edit(client, incident: Incident, data: dict[str, list[str]]):
    return client.post(reverse("incidents:edit", args=[incident.reference]), data)


@pytest.fixture
def team(lead, responder, incident):
    services.member_add(incident=incident, user=responder, actor=lead)
    return lead, responder


def test_the_form_carries_what_it_was_loaded_with(login, lead, incident):
    page = login(lead).get(reverse("incidents:edit", args=[incident.reference])).content.decode()
    data = form_data(page)
    assert data["initial-title"] == ["Phishing wave against finance"]
    assert data["version"] == ["1"]
    newest = Activity.objects.filter(incident=incident).order_by("-id").first()
    assert data["seen_activity"] == [str(newest.pk)]


def test_a_save_sends_only_what_was_changed(login, lead, incident):
    Incident.objects.filter(pk=incident.pk).update(detected_at=incident.detected_at.replace(second=42))
    client = login(lead)
    data = form_data(client.get(reverse("incidents:edit", args=[incident.reference])).content.decode())
    data["title"] = ["Phishing wave against finance and HR"]
    assert edit(client, incident, data).status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Phishing wave against finance and HR"
    assert incident.detected_at.second == 42  # the form edits to the minute; untouched, it is kept
    entry = Activity.objects.filter(incident=incident, verb=Verb.UPDATED).get()
    assert set(entry.data["changes"]) == {"title"}


def test_a_conflict_on_other_fields_shows_who_changed_what_and_applies_in_one_click(login, team, incident):
    lead, responder = team
    client = login(responder)
    data = form_data(client.get(reverse("incidents:edit", args=[incident.reference])).content.decode())
    data["title"] = ["Phishing wave against finance and HR"]
    # Meanwhile the lead raises the severity and changes the summary.
    services.incident_update(
        incident=incident, actor=lead, version=1, changes={"severity": Severity.HIGH, "summary": "BEC confirmed."}
    )
    entry = Activity.objects.filter(incident=incident, verb=Verb.UPDATED).get()

    response = edit(client, incident, data)
    assert response.status_code == 409
    body = response.content.decode()
    at = entry.created_at.strftime("%H:%M")
    assert f"Changed by <strong>{lead}</strong> at" in body
    assert f">{at}</time>" in body
    rows = {row.name: row for row in response.context["conflict"].rows}
    assert set(rows) == {"severity", "summary", "title"}
    severity = rows["severity"]
    assert (severity.theirs.old, severity.theirs.new, severity.yours) == ("Medium", "High", None)
    assert rows["title"].theirs is None and rows["title"].yours == "Phishing wave against finance and HR"
    assert not any(row.both for row in rows.values())
    assert "<del>Medium</del>" in body and "<ins>High</ins>" in body
    assert "Apply my changes on top of theirs" in body
    incident.refresh_from_db()
    assert (incident.title, incident.version) == ("Phishing wave against finance", 2)  # nothing of theirs saved yet

    merged = edit(client, incident, form_data(body, "merge-form"))
    assert merged.status_code == 302
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.summary, incident.version) == (
        "Phishing wave against finance and HR",
        Severity.HIGH,
        "BEC confirmed.",
        3,
    )
    last = Activity.objects.filter(incident=incident, verb=Verb.UPDATED).order_by("-id").first()
    assert (last.actor, set(last.data["changes"])) == (responder, {"title"})


def test_both_changing_a_field_refuses_one_click(login, team, incident):
    lead, responder = team
    client = login(responder)
    data = form_data(client.get(reverse("incidents:edit", args=[incident.reference])).content.decode())
    data["title"] = ["Responder's title"]
    data["severity"] = [Severity.HIGH]
    services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Lead's title"})
    response = edit(client, incident, data)
    assert response.status_code == 409
    body = response.content.decode()
    assert "You both changed title" in body
    assert "Apply my changes on top of theirs" not in body
    assert 'class="merge-form"' not in body
    rows = {row.name: row for row in response.context["conflict"].rows}
    assert rows["title"].both and not rows["severity"].both
    # What the responder typed is kept in the form to copy.
    assert form_data(body)["title"] == ["Responder's title"]
    incident.refresh_from_db()
    assert (incident.title, incident.severity) == ("Lead's title", Severity.MEDIUM)


def test_the_same_change_on_both_sides_is_no_conflict(login, team, incident):
    lead, responder = team
    client = login(responder)
    data = form_data(client.get(reverse("incidents:edit", args=[incident.reference])).content.decode())
    data["severity"] = [Severity.HIGH]
    data["title"] = ["Phishing (BEC)"]
    services.incident_update(incident=incident, actor=lead, version=1, changes={"severity": Severity.HIGH})
    response = edit(client, incident, data)
    assert response.context["conflict"].overlap == []
    assert "Apply my changes on top of theirs" in response.content.decode()


def test_a_status_change_meanwhile_is_listed(login, team, incident):
    lead, responder = team
    client = login(responder)
    data = form_data(client.get(reverse("incidents:edit", args=[incident.reference])).content.decode())
    data["title"] = ["Renamed"]
    services.incident_transition(incident=incident, to="investigating", actor=lead)
    body = edit(client, incident, data).content.decode()
    assert f"<strong>{lead}</strong> moved it from new to investigating" in body
    assert "Apply my changes on top of theirs" in body


def test_a_one_click_that_meets_a_third_change_shows_only_that_one(login, team, incident, admin):
    lead, responder = team
    client = login(responder)
    data = form_data(client.get(reverse("incidents:edit", args=[incident.reference])).content.decode())
    data["title"] = ["Renamed"]
    services.incident_update(incident=incident, actor=lead, version=1, changes={"severity": Severity.HIGH})
    merge = form_data(edit(client, incident, data).content.decode(), "merge-form")
    services.incident_update(incident=incident, actor=admin, version=2, changes={"personal_data": True})
    again = edit(client, incident, merge)
    assert again.status_code == 409
    conflict = again.context["conflict"]
    assert [author.who for author in conflict.authors] == [str(admin)]
    assert {row.name for row in conflict.rows} == {"personal_data", "title"}
    merged = edit(client, incident, form_data(again.content.decode(), "merge-form"))
    assert merged.status_code == 302
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.personal_data, incident.version) == (
        "Renamed",
        Severity.HIGH,
        True,
        4,
    )
