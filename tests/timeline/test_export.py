"""Exporting a timeline as CSV and JSON (streamed, the page's filters applied, only what the
viewer may see), and the round trip: an export imported into another incident is the same story.

Personas (tests/conftest.py): lena leads both incidents; victor, a vendor collaborator, is a
member of ``restricted_incident``.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from config.celery import app
from incidents.vendors.services import involvement_add, vendor_create
from tests.factories import make_incident
from timeline import services
from timeline.models import TimelineEvent, TimelineImport

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager():
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def lakeside(admin):
    return vendor_create(actor=admin, name="Lakeside MSP")


def _story(incident, lead, lakeside) -> None:
    """Three events: an exact one given in +01:00, a day one (internal, with a vendor and a
    Markdown list a spreadsheet would take for a formula), an hour one given in -05:00."""
    involvement_add(incident=incident, vendor=lakeside, actor=lead)
    services.event_add(
        incident=incident,
        actor=lead,
        occurred_at="2026-03-01T22:14:05+01:00",
        kind="attacker",
        title="Phishing e-mail opened",
        source="EVTX",
        technique="T1566.001",
        key_event=True,
        internal=False,
        attributes={"hostname": "wks-017"},
    )
    services.event_add(
        incident=incident,
        actor=lead,
        occurred_at="2026-03-02",
        precision="day",
        kind="detection",
        title="EDR alert",
        description="- first\n- second",
        vendor=lakeside.pk,
        internal=True,
    )
    services.event_add(
        incident=incident,
        actor=lead,
        occurred_at="2026-03-03T08:37:00-05:00",
        precision="hour",
        kind="containment",
        title="VPN account disabled",
        internal=False,
        vendor=lakeside.pk,
        attributes={"ticket": 4711},
    )


def _download(client, incident, format: str, query: str = "") -> tuple[int, dict, str]:
    response = client.get(reverse("timeline:export", args=[incident.reference, format]) + query)
    body = b"".join(response.streaming_content).decode()
    return response.status_code, response, body


CSV_HEADER = "occurred_at,precision,kind,title,description,source,technique,key_event,internal,vendor,hostname,ticket"


class TestCsv:
    def test_every_event_the_viewer_sees_in_import_columns(self, login, lead, incident, lakeside):
        _story(incident, lead, lakeside)
        status, response, body = _download(login(lead), incident, "csv")
        assert status == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == f'attachment; filename="{incident.reference}-timeline.csv"'
        assert body == (
            f"{CSV_HEADER}\r\n"
            "2026-03-01T22:14:05+01:00,exact,attacker,Phishing e-mail opened,,EVTX,T1566.001,true,false,,wks-017,\r\n"
            '2026-03-02,day,detection,EDR alert,"\'- first\n- second",,,false,true,Lakeside MSP,,\r\n'
            "2026-03-03T08:00:00-05:00,hour,containment,VPN account disabled,,,,false,false,Lakeside MSP,,4711\r\n"
        )

    def test_the_pages_filters_apply(self, login, lead, incident, lakeside):
        _story(incident, lead, lakeside)
        client = login(lead)
        _, _, key = _download(client, incident, "csv", "?key=1")
        assert [line.split(",")[3] for line in key.splitlines()[1:]] == ["Phishing e-mail opened"]
        _, _, kinds = _download(client, incident, "csv", "?kind=detection&kind=containment")
        assert [line.split(",")[2] for line in kinds.splitlines()[1:] if line[:4] == "2026"] == [
            "detection",
            "containment",
        ]
        _, _, vendor = _download(client, incident, "csv", f"?vendor={lakeside.pk}&technique=")
        assert vendor.count("Lakeside MSP") == 2
        _, _, technique = _download(client, incident, "csv", "?technique=t1566")
        assert technique.count("\r\n") == 2  # the header and T1566.001

    def test_a_vendor_collaborator_gets_shared_events_without_internal_or_other_vendors(
        self, login, lead, vendor, restricted_incident, lakeside
    ):
        _story(restricted_incident, lead, lakeside)
        _, _, body = _download(login(vendor), restricted_incident, "csv")
        assert body == (
            "occurred_at,precision,kind,title,description,source,technique,key_event,vendor,hostname,ticket\r\n"
            "2026-03-01T22:14:05+01:00,exact,attacker,Phishing e-mail opened,,EVTX,T1566.001,true,,wks-017,\r\n"
            "2026-03-03T08:00:00-05:00,hour,containment,VPN account disabled,,,,false,,,4711\r\n"
        )

    def test_a_vendor_collaborator_filtering_by_another_company_finds_nothing(
        self, login, lead, vendor, restricted_incident, lakeside
    ):
        # Which shared events name another company is not theirs to learn, even from a filter.
        _story(restricted_incident, lead, lakeside)
        _, _, body = _download(login(vendor), restricted_incident, "csv", f"?vendor={lakeside.pk}")
        assert body == "occurred_at,precision,kind,title,description,source,technique,key_event,vendor\r\n"

    def test_an_outsider_gets_404(self, login, lead, outsider, restricted_incident, lakeside):
        _story(restricted_incident, lead, lakeside)
        response = login(outsider).get(reverse("timeline:export", args=[restricted_incident.reference, "csv"]))
        assert response.status_code == 404

    def test_an_unknown_format_is_404(self, login, lead, incident):
        response = login(lead).get(f"/incidents/{incident.reference}/timeline/export.xlsx")
        assert response.status_code == 404

    def test_queries_do_not_grow_with_the_events(self, login, lead, incident, lakeside, django_assert_num_queries):
        _story(incident, lead, lakeside)
        client = login(lead)
        # 5: the session, the user, the incident (incident_get), the attribute names, and the
        # events with their vendor (one iterator), however many events there are.
        with django_assert_num_queries(5):
            _download(client, incident, "csv")
        services.events_add_many(
            incident=incident,
            actor=lead,
            items=[
                {"occurred_at": f"2026-02-01T10:{minute:02d}:00Z", "kind": "attacker", "title": f"E{minute}"}
                for minute in range(50)
            ],
        )
        with django_assert_num_queries(5):
            _, _, body = _download(client, incident, "csv")
        assert body.count("\r\n") == 54


class TestJson:
    def test_an_array_of_events_one_a_line(self, login, lead, incident, lakeside):
        _story(incident, lead, lakeside)
        status, response, body = _download(login(lead), incident, "json")
        assert (status, response["Content-Type"]) == (200, "application/json")
        assert response["Content-Disposition"] == f'attachment; filename="{incident.reference}-timeline.json"'
        lines = body.splitlines()
        assert (lines[0], lines[-1], len(lines)) == ("[", "]", 5)
        assert json.loads(body) == [
            {
                "occurred_at": "2026-03-01T22:14:05+01:00",
                "precision": "exact",
                "kind": "attacker",
                "title": "Phishing e-mail opened",
                "description": "",
                "source": "EVTX",
                "technique": "T1566.001",
                "key_event": True,
                "internal": False,
                "vendor": "",
                "attributes": {"hostname": "wks-017"},
            },
            {
                "occurred_at": "2026-03-02",
                "precision": "day",
                "kind": "detection",
                "title": "EDR alert",
                "description": "- first\n- second",  # JSON needs no formula guard
                "source": "",
                "technique": "",
                "key_event": False,
                "internal": True,
                "vendor": "Lakeside MSP",
                "attributes": {},
            },
            {
                "occurred_at": "2026-03-03T08:00:00-05:00",
                "precision": "hour",
                "kind": "containment",
                "title": "VPN account disabled",
                "description": "",
                "source": "",
                "technique": "",
                "key_event": False,
                "internal": False,
                "vendor": "Lakeside MSP",
                "attributes": {"ticket": 4711},
            },
        ]

    def test_no_events_is_an_empty_array(self, login, lead, incident):
        assert json.loads(_download(login(lead), incident, "json")[2]) == []


def _story_as_read(incident) -> list[tuple]:
    return [
        (
            event.occurred_at.isoformat(),
            event.occurred_offset if event.precision != "day" else "(a date)",
            event.precision,
            event.kind,
            event.title,
            event.description,
            event.source,
            event.technique,
            event.key_event,
            event.internal,
            event.vendor.name if event.vendor else "",
            event.attributes,
        )
        for event in TimelineEvent.objects.filter(incident=incident).select_related("vendor").order_by("occurred_at")
    ]


STORY = [
    ("2026-03-01T21:14:05+00:00", 60, "exact", "attacker", "Phishing e-mail opened", "", "EVTX", "T1566.001", True,
     False, "", {"hostname": "wks-017"}),
    ("2026-03-02T00:00:00+00:00", "(a date)", "day", "detection", "EDR alert", "- first\n- second", "", "", False,
     True, "Lakeside MSP", {}),
    ("2026-03-03T13:00:00+00:00", -300, "hour", "containment", "VPN account disabled", "", "", "", False, False,
     "Lakeside MSP", {"ticket": 4711}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("format", "ticket"),
    [("csv", "4711"), ("json", 4711)],  # CSV cells are text: a number comes back as its digits
)
def test_an_export_imports_back_as_the_same_story(
    login, lead, incident, lakeside, django_capture_on_commit_callbacks, format, ticket
):
    _story(incident, lead, lakeside)
    assert _story_as_read(incident) == STORY
    client = login(lead)
    _, _, exported = _download(client, incident, format)
    other = make_incident(opened_by=lead, lead=lead, title="The same breach, a second case")
    involvement_add(incident=other, vendor=lakeside, actor=lead)

    with django_capture_on_commit_callbacks(execute=True):
        upload = client.post(
            reverse("timeline:import", args=[other.reference]),
            {"default_timezone": "UTC", "file": ContentFile(exported.encode(), name=f"export.{format}")},
        )
    imp = TimelineImport.objects.get(incident=other)
    assert (upload.status_code, imp.status, imp.errors) == (302, "ready", [])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("timeline:import-confirm", args=[other.reference, imp.pk]))

    expected = [*STORY[:2], (*STORY[2][:-1], {"ticket": ticket})]
    assert _story_as_read(other) == expected
