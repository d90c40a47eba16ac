"""Importing a CSV or JSON Lines file into a timeline, through the browser: upload → the rows
are checked (preview, per-row errors with row numbers) → confirm → every event in one
transaction, or nothing.

Tasks run eagerly here (``_eager``), fired when the request's transaction commits
(``django_capture_on_commit_callbacks``), as ``make run`` runs them; the 100,000-row file goes
through the real broker in ``test_import_celery.py``.

Personas (tests/conftest.py): lena leads ``incident`` (unrestricted) and ``restricted_incident``;
ravi (responder) and victor (vendor collaborator, a contributor) are members of the restricted
one; otto is on no incident; erin is an executive.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import reverse

from config.celery import app
from incidents.models import Activity, Verb
from incidents.vendors.services import involvement_add, vendor_create
from timeline import imports, tasks
from timeline.models import ImportStatus, TimelineEvent, TimelineImport

pytestmark = pytest.mark.django_db

TECHNIQUE_UNKNOWN = "T1199.001 is not a technique in ATT&CK Enterprise 18.1."
KIND_UNKNOWN = (
    "“sabotage” is not one of: attacker, detection, containment, eradication, recovery, communication, "
    "vendor, regulatory."
)
NOT_ISO = "“yesterday” is not a date and time: use ISO 8601, e.g. 2026-03-02T14:05:00+01:00."


@pytest.fixture(autouse=True)
def _eager(settings):
    """Tasks run in the process that enqueues them (as without a broker), whatever
    CELERY_BROKER_URL the run was given."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def _upload(client, incident, name: str, content: bytes | str, capture, **fields):
    data = {"default_timezone": "UTC", "default_kind": "", **fields}
    data["file"] = ContentFile(content.encode() if isinstance(content, str) else content, name=name)
    with capture(execute=True):
        response = client.post(reverse("timeline:import", args=[incident.reference]), data)
    return response


def _latest() -> TimelineImport:
    return TimelineImport.objects.latest("pk")


def _confirm(client, imp: TimelineImport, capture, **data):
    url = reverse("timeline:import-confirm", args=[imp.incident.reference, imp.pk])
    with capture(execute=True):
        return client.post(url, data)


def _events(incident) -> list[tuple]:
    rows = TimelineEvent.objects.filter(incident=incident).order_by("occurred_at", "id")
    return [
        (
            event.occurred_at.isoformat(),
            event.occurred_offset,
            event.precision,
            event.kind,
            event.title,
            event.source,
            event.technique,
            event.key_event,
            event.attributes,
        )
        for event in rows
    ]


TIMESKETCH_CSV = (
    "datetime,timestamp,timestamp_desc,message,source_short,hostname\n"
    "2026-03-01T22:14:05+01:00,,Event Recorded,Phishing e-mail opened by j.doe,EVTX,wks-017\n"
    "2026-03-02 08:30:00,,Last Login,VPN login from 203.0.113.7,AUTH,vpn-01\n"
    f',1772467200000000,Creation Time,"{"Dropper written to disk " * 15}",FILE,wks-017\n'
)


class TestGoodFiles:
    def test_a_timesketch_csv_is_checked_previewed_and_imported(
        self, login, lead, incident, django_capture_on_commit_callbacks
    ):
        client = login(lead)
        response = _upload(
            client,
            incident,
            "plaso.csv",
            TIMESKETCH_CSV,
            django_capture_on_commit_callbacks,
            default_timezone="Europe/Berlin",
            default_kind="attacker",
        )
        imp = _latest()
        assert response.status_code == 302
        assert response["Location"] == reverse("timeline:import-detail", args=[incident.reference, imp.pk])
        # Checked, nothing imported yet; the file waits in the private storage.
        assert (imp.status, imp.rows_total, imp.rows_checked, imp.rows_bad, imp.errors) == ("ready", 3, 3, 0, [])
        assert imp.stored_name.startswith(f"timeline-imports/{incident.pk}/")
        assert imp.default_kind == "attacker"
        assert storages["evidence"].exists(imp.stored_name)
        assert TimelineEvent.objects.filter(incident=incident).count() == 0
        assert [(row["row"], row["occurred_at"], row["title"][:30]) for row in imp.preview] == [
            (2, "2026-03-01T22:14:05+01:00", "Phishing e-mail opened by j.do"),
            (3, "2026-03-02T08:30:00+01:00", "VPN login from 203.0.113.7"),
            (4, "2026-03-02T16:00:00+00:00", "Dropper written to disk Droppe"),
        ]
        page = client.get(response["Location"]).content.decode()
        assert "Ready to import" in page
        assert "Last Login" in page  # timestamp_desc is shown in the preview

        response = _confirm(client, imp, django_capture_on_commit_callbacks)

        assert response.status_code == 302
        long_title = ("Dropper written to disk " * 15).strip()
        assert (
            _events(incident)
            == [
                (
                    "2026-03-01T21:14:05+00:00",
                    60,
                    "exact",
                    "attacker",
                    "Phishing e-mail opened by j.doe",
                    "",
                    "",
                    False,
                    {"timestamp_desc": "Event Recorded", "source_short": "EVTX", "hostname": "wks-017"},
                ),
                (
                    "2026-03-02T07:30:00+00:00",  # no offset: read in Europe/Berlin, chosen on the form
                    60,
                    "exact",
                    "attacker",
                    "VPN login from 203.0.113.7",
                    "",
                    "",
                    False,
                    {"timestamp_desc": "Last Login", "source_short": "AUTH", "hostname": "vpn-01"},
                ),
                (
                    "2026-03-02T16:00:00+00:00",  # timestamp: microseconds since 1970
                    0,
                    "exact",
                    "attacker",
                    long_title[:299] + "…",  # 359 characters: cut to 300, the whole in the description
                    "",
                    "",
                    False,
                    {"timestamp_desc": "Creation Time", "source_short": "FILE", "hostname": "wks-017"},
                ),
            ]
        )
        last = TimelineEvent.objects.filter(incident=incident).order_by("occurred_at").last()
        assert last.description == long_title
        assert len(last.title) == 300
        imp.refresh_from_db()
        assert (imp.status, imp.rows_imported, imp.stored_name) == ("done", 3, "")
        assert not storages["evidence"].listdir(f"timeline-imports/{incident.pk}")[1]
        assert set(TimelineEvent.objects.values_list("imported_from", "recorded_by__username")) == {(imp.pk, "lena")}
        entries = Activity.objects.filter(incident=incident, verb=Verb.TIMELINE_EVENT_ADDED)
        assert [entry.text for entry in entries] == ["added 3 timeline events from plaso.csv"]

    def test_our_own_columns_in_json_lines(self, login, lead, admin, incident, django_capture_on_commit_callbacks):
        lakeside = vendor_create(actor=admin, name="Lakeside MSP")
        involvement_add(incident=incident, vendor=lakeside, actor=lead)
        lines = [
            {
                "Occurred_At": "2026-03-01T09:00:00-05:00",
                "Precision": "Hour",
                "KIND": "detection",
                "Title": "EDR alert on wks-017",
                "description": "Cobalt Strike beacon **blocked**",
                "source": "CrowdStrike",
                "technique": "t1078.004",
                "key_event": True,
                "vendor": "lakeside msp",
                "ticket": 4711,
            },
            {"occurred_at": "2026-03-03", "kind": "Containment", "title": "VPN account disabled", "key_event": "no"},
            {"occurred_at": 1772467200, "kind": "vendor", "title": "Vendor notified", "vendor": str(lakeside.pk)},
        ]
        body = "\n".join(json.dumps(line) for line in lines) + "\n\n"
        _upload(client := login(lead), incident, "siem.jsonl", body, django_capture_on_commit_callbacks)
        imp = _latest()
        assert (imp.status, imp.format, imp.rows_total, imp.errors) == ("ready", "jsonl", 3, [])

        _confirm(client, imp, django_capture_on_commit_callbacks)

        assert _events(incident) == [
            (
                "2026-03-01T14:00:00+00:00",  # 09:37 -05:00 known to the hour
                -300,
                "hour",
                "detection",
                "EDR alert on wks-017",
                "CrowdStrike",
                "T1078.004",
                True,
                {"ticket": 4711},
            ),
            ("2026-03-02T16:00:00+00:00", 0, "exact", "vendor", "Vendor notified", "", "", False, {}),
            ("2026-03-03T00:00:00+00:00", None, "day", "containment", "VPN account disabled", "", "", False, {}),
        ]
        assert list(TimelineEvent.objects.order_by("occurred_at").values_list("vendor__name", flat=True)) == [
            "Lakeside MSP",
            "Lakeside MSP",
            None,
        ]

    def test_a_json_array_file_imports_too(self, login, lead, incident, django_capture_on_commit_callbacks):
        body = json.dumps(
            [
                {"occurred_at": "2026-03-01T10:00:00Z", "kind": "attacker", "title": "One", "attributes": {"a": 1}},
                {"occurred_at": "2026-03-01T11:00:00Z", "kind": "attacker", "title": "Two"},
            ],
            indent=2,
        )
        _upload(client := login(lead), incident, "export.json", body, django_capture_on_commit_callbacks)
        _confirm(client, _latest(), django_capture_on_commit_callbacks)
        assert [(title, attributes) for *_, title, _s, _t, _k, attributes in _events(incident)] == [
            ("One", {"a": 1}),
            ("Two", {}),
        ]

    def test_internal_is_chosen_on_the_form_unless_a_row_says(
        self, login, lead, incident, django_capture_on_commit_callbacks
    ):
        body = (
            "occurred_at,kind,title,internal\n"
            "2026-03-01T10:00:00Z,attacker,Shared,false\n"
            "2026-03-01T11:00:00Z,attacker,As the form says,\n"
        )
        _upload(client := login(lead), incident, "x.csv", body, django_capture_on_commit_callbacks, internal="on")
        _confirm(client, _latest(), django_capture_on_commit_callbacks)
        assert list(TimelineEvent.objects.order_by("occurred_at").values_list("title", "internal")) == [
            ("Shared", False),
            ("As the form says", True),
        ]
        # One entry per group (shared and internal apart), as for every batch of events.
        assert sorted(
            Activity.objects.filter(incident=incident, verb=Verb.TIMELINE_EVENT_ADDED).values_list(
                "internal", "data__count"
            )
        ) == [(False, 1), (True, 1)]


BAD_CSV = (
    "occurred_at,kind,title,technique\n"
    "2026-03-01T10:00:00Z,attacker,Recon,T1595\n"
    "yesterday,attacker,Bad time,\n"
    "2026-03-01T11:00:00Z,sabotage,Bad kind,\n"
    '2026-03-01T12:00:00Z,attacker,"Bad\ntechnique",T1199.001\n'
    "2026-03-01T13:00:00Z,attacker,,\n"
    "2026-03-01T14:00:00Z,attacker,Initial access,T1199\n"
)


class TestBadRows:
    def test_errors_name_the_row_and_the_column(self, login, lead, incident, django_capture_on_commit_callbacks):
        client = login(lead)
        _upload(client, incident, "bad.csv", BAD_CSV, django_capture_on_commit_callbacks)
        imp = _latest()
        assert (imp.status, imp.rows_total, imp.rows_bad) == ("invalid", 6, 4)
        # CSV rows are the file's lines, the header being row 1; a quoted line break makes the
        # row after it start a line later.
        assert imp.errors == [
            {"row": 3, "field": "occurred_at", "message": NOT_ISO},
            {"row": 4, "field": "kind", "message": KIND_UNKNOWN},
            {"row": 5, "field": "technique", "message": TECHNIQUE_UNKNOWN},
            {"row": 7, "field": "title", "message": "This field is required."},
        ]
        assert [row["title"] for row in imp.preview] == ["Recon", "Initial access"]
        page = client.get(reverse("timeline:import-detail", args=[incident.reference, imp.pk])).content.decode()
        assert "Has bad rows" in page
        assert "<td>3</td><td>occurred_at</td><td>“yesterday” is not a date and time" in page.replace("&ldquo;", "“")

    def test_timesketch_rows_are_named_by_their_own_columns(
        self, login, lead, incident, django_capture_on_commit_callbacks
    ):
        lines = [
            '{"datetime": "2026-03-01T10:00:00Z", "message": "ok", "timestamp_desc": "Event Recorded"}',
            "not json",
            '{"datetime": "2026-13-01T10:00:00Z", "message": "bad month"}',
            '{"timestamp": "soon", "message": "bad timestamp"}',
            '{"datetime": "2026-03-01T10:00:00Z", "message": ""}',
            "[1, 2]",
        ]
        _upload(
            login(lead),
            incident,
            "ts.jsonl",
            "\n".join(lines),
            django_capture_on_commit_callbacks,
            default_kind="attacker",
        )
        assert _latest().errors == [
            {"row": 2, "field": "", "message": "This line is not JSON: Expecting value."},
            {
                "row": 3,
                "field": "datetime",
                "message": "“2026-13-01T10:00:00Z” is not a date and time: use ISO 8601, e.g. "
                "2026-03-02T14:05:00+01:00.",
            },
            {"row": 4, "field": "timestamp", "message": "“soon” is not a number of microseconds since 1970."},
            {"row": 5, "field": "message", "message": "This field is required."},
            {"row": 6, "field": "", "message": "Each line must be a JSON object."},
        ]

    def test_a_file_with_bad_rows_imports_nothing_unless_asked_to_skip_them(
        self, login, lead, incident, django_capture_on_commit_callbacks
    ):
        client = login(lead)
        _upload(client, incident, "bad.csv", BAD_CSV, django_capture_on_commit_callbacks)
        imp = _latest()

        refused = _confirm(client, imp, django_capture_on_commit_callbacks)

        assert refused.status_code == 400
        assert "4 rows are bad: fix them and upload the file again" in refused.content.decode()
        imp.refresh_from_db()
        assert (imp.status, TimelineEvent.objects.count()) == ("invalid", 0)

        done = _confirm(client, imp, django_capture_on_commit_callbacks, skip_bad_rows="on")

        assert done.status_code == 302
        assert [title for *_, title, _s, _t, _k, _a in _events(incident)] == ["Recon", "Initial access"]
        imp.refresh_from_db()
        assert (imp.status, imp.rows_imported, imp.skip_bad_rows) == ("done", 2, True)
        entries = Activity.objects.filter(incident=incident, verb=Verb.TIMELINE_EVENT_ADDED)
        assert [entry.text for entry in entries] == ["added 2 timeline events from bad.csv"]

    def test_errors_are_capped_but_counted(self, login, lead, incident, django_capture_on_commit_callbacks):
        body = "occurred_at,kind,title\n" + "never,attacker,x\n" * 250
        _upload(login(lead), incident, "many.csv", body, django_capture_on_commit_callbacks)
        imp = _latest()
        assert (imp.rows_bad, len(imp.errors), imp.errors[-1]["row"]) == (250, 200, 201)

    def test_a_row_gone_bad_since_the_check_fails_the_whole_import(
        self, login, lead, admin, incident, django_capture_on_commit_callbacks
    ):
        lakeside = vendor_create(actor=admin, name="Lakeside MSP")
        involvement = involvement_add(incident=incident, vendor=lakeside, actor=lead)
        body = (
            "occurred_at,kind,title,vendor\n"
            "2026-03-01T10:00:00Z,vendor,A,\n"
            "2026-03-01T11:00:00Z,vendor,B,Lakeside MSP\n"
        )
        client = login(lead)
        _upload(client, incident, "v.csv", body, django_capture_on_commit_callbacks)
        imp = _latest()
        assert imp.status == "ready"
        involvement.delete()  # the vendor is no longer on the incident

        _confirm(client, imp, django_capture_on_commit_callbacks)

        imp.refresh_from_db()
        assert (imp.status, imp.failure) == (
            "failed",
            "Nothing was imported: row 3 vendor: No vendor “Lakeside MSP” is involved in this incident.",
        )
        assert TimelineEvent.objects.count() == 0
        assert imp.stored_name == ""


class TestUploadRefused:
    @pytest.mark.parametrize(
        ("name", "content", "field", "message"),
        [
            ("notes.txt", b"datetime,message\n", "file", "“notes.txt” is not a .csv, .jsonl or .json file"),
            ("latin.csv", "datetime,message\n2026-03-01,caf\xe9\n".encode("latin-1"), "file", "is not UTF-8 text"),
            ("empty.csv", b"", "file", "The submitted file is empty."),
            ("blank.csv", b"\n\n", "file", "The file has no rows to import."),
            ("notime.csv", b"when,message\n2026-03-01,x\n", "file", "The file has no time column"),
            ("nokind.csv", b"datetime,message\n2026-03-01,x\n", "default_kind", "The file has no kind column"),
        ],
    )
    def test_a_file_that_cannot_be_imported_is_a_form_error(
        self, login, lead, incident, django_capture_on_commit_callbacks, name, content, field, message
    ):
        response = _upload(login(lead), incident, name, content, django_capture_on_commit_callbacks)
        assert response.status_code == 400
        errors = response.context["form"].errors
        assert message in " ".join(errors[field]).replace("&ldquo;", "“")
        assert TimelineImport.objects.count() == 0

    def test_a_file_over_the_limit_is_refused_unread(
        self, login, lead, incident, settings, django_capture_on_commit_callbacks
    ):
        settings.TIMELINE_IMPORT_MAX_BYTES = 100
        body = "datetime,message\n" + "2026-03-01T10:00:00Z,x\n" * 10
        response = _upload(login(lead), incident, "big.csv", body, django_capture_on_commit_callbacks)
        assert response.status_code == 413
        assert "larger than the 100\xa0bytes limit" in response.context["form"].non_field_errors()[0]
        assert TimelineImport.objects.count() == 0

    def test_a_file_with_too_many_rows_fails_its_check(
        self, login, lead, incident, settings, django_capture_on_commit_callbacks
    ):
        settings.TIMELINE_IMPORT_MAX_ROWS = 2
        body = "occurred_at,kind,title\n" + "2026-03-01T10:00:00Z,attacker,A\n" * 3
        _upload(login(lead), incident, "three.csv", body, django_capture_on_commit_callbacks)
        imp = _latest()
        assert (imp.status, imp.failure, imp.stored_name) == (
            "failed",
            "The file has more than 2 rows: split it and import the parts one by one.",
            "",
        )
        assert storages["evidence"].listdir(f"timeline-imports/{incident.pk}")[1] == []


class TestOnce:
    def test_two_clicks_on_confirm_import_once(self, login, lead, incident, django_capture_on_commit_callbacks):
        client = login(lead)
        _upload(
            client,
            incident,
            "x.csv",
            "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n",
            django_capture_on_commit_callbacks,
        )
        imp = _latest()
        url = reverse("timeline:import-confirm", args=[incident.reference, imp.pk])
        with django_capture_on_commit_callbacks(execute=True):
            first = client.post(url)
            second = client.post(url)  # before the first one's task ran
        assert (first.status_code, second.status_code) == (302, 409)
        assert "This import is importing: it cannot be confirmed." in second.content.decode()
        assert TimelineEvent.objects.filter(incident=incident).count() == 1

    def test_two_requests_that_both_read_it_ready_import_once(
        self, login, lead, incident, django_capture_on_commit_callbacks
    ):
        body = "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n"
        _upload(login(lead), incident, "x.csv", body, django_capture_on_commit_callbacks)
        # Both loaded before either claimed it: only the conditional update tells them apart.
        first, second = _latest(), _latest()
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_confirm(timeline_import=first, actor=lead)
            with pytest.raises(imports.ImportConflict, match=r"^This import has already been confirmed\.$"):
                imports.import_confirm(timeline_import=second, actor=lead)
        assert TimelineEvent.objects.filter(incident=incident).count() == 1

    def test_a_task_delivered_twice_imports_once(self, login, lead, incident, django_capture_on_commit_callbacks):
        client = login(lead)
        _upload(
            client,
            incident,
            "x.csv",
            "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n",
            django_capture_on_commit_callbacks,
        )
        imp = _latest()
        with django_capture_on_commit_callbacks(execute=True):
            imports.import_confirm(timeline_import=imp, actor=lead)
        tasks.import_apply.delay(imp.pk, lead.pk)  # redelivered after the first finished
        tasks.import_check.delay(imp.pk)
        assert TimelineEvent.objects.filter(incident=incident).count() == 1
        imp.refresh_from_db()
        assert (imp.status, imp.rows_imported) == ("done", 1)

    def test_cancel_deletes_the_file_and_a_cancelled_import_cannot_be_confirmed(
        self, login, lead, incident, django_capture_on_commit_callbacks
    ):
        client = login(lead)
        _upload(
            client,
            incident,
            "x.csv",
            "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n",
            django_capture_on_commit_callbacks,
        )
        imp = _latest()
        stored = imp.stored_name
        assert storages["evidence"].exists(stored)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("timeline:import-cancel", args=[incident.reference, imp.pk]))
        assert response.status_code == 302
        assert not storages["evidence"].exists(stored)
        assert _confirm(client, imp, django_capture_on_commit_callbacks).status_code == 409
        assert TimelineEvent.objects.count() == 0


class TestWhoMayImport:
    def test_vendor_collaborator_cannot_import(
        self, login, vendor, restricted_incident, django_capture_on_commit_callbacks
    ):
        client = login(vendor)
        assert client.get(reverse("timeline:import", args=[restricted_incident.reference])).status_code == 403
        response = _upload(
            client, restricted_incident, "x.csv", "occurred_at,kind,title\n", django_capture_on_commit_callbacks
        )
        assert response.status_code == 403
        assert TimelineImport.objects.count() == 0

    def test_executive_cannot_import(self, login, executive, incident, django_capture_on_commit_callbacks):
        client = login(executive)
        assert client.get(reverse("timeline:import", args=[incident.reference])).status_code == 403
        response = _upload(client, incident, "x.csv", "occurred_at,kind,title\n", django_capture_on_commit_callbacks)
        assert response.status_code == 403

    def test_outsider_does_not_learn_the_incident_exists(
        self, login, lead, outsider, restricted_incident, django_capture_on_commit_callbacks
    ):
        _upload(
            login(lead),
            restricted_incident,
            "x.csv",
            "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n",
            django_capture_on_commit_callbacks,
        )
        imp = _latest()
        client = login(outsider)
        ref = restricted_incident.reference
        assert client.get(reverse("timeline:import", args=[ref])).status_code == 404
        assert client.get(reverse("timeline:import-detail", args=[ref, imp.pk])).status_code == 404
        assert _confirm(client, imp, django_capture_on_commit_callbacks).status_code == 404
        assert client.post(reverse("timeline:import-cancel", args=[ref, imp.pk])).status_code == 404
        imp.refresh_from_db()
        assert imp.status == "ready"

    def test_responder_member_imports(self, login, responder, restricted_incident, django_capture_on_commit_callbacks):
        client = login(responder)
        body = "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n"
        assert (
            _upload(client, restricted_incident, "x.csv", body, django_capture_on_commit_callbacks).status_code == 302
        )
        assert _confirm(client, _latest(), django_capture_on_commit_callbacks).status_code == 302
        # Not ticked internal on the form (it offers the tick, ticked, on a restricted incident).
        assert list(TimelineEvent.objects.values_list("title", "internal", "recorded_by__username")) == [
            ("A", False, "ravi")
        ]

    def test_an_import_of_another_incident_is_not_found(
        self, login, lead, incident, restricted_incident, django_capture_on_commit_callbacks
    ):
        client = login(lead)
        _upload(
            client,
            restricted_incident,
            "x.csv",
            "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n",
            django_capture_on_commit_callbacks,
        )
        imp = _latest()
        assert client.get(reverse("timeline:import-detail", args=[incident.reference, imp.pk])).status_code == 404


class TestPage:
    def test_the_detail_polls_while_checking_and_stops_when_checked(
        self, login, lead, incident, django_capture_on_commit_callbacks
    ):
        client = login(lead)
        _upload(
            client,
            incident,
            "x.csv",
            "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n",
            django_capture_on_commit_callbacks,
        )
        imp = _latest()
        url = reverse("timeline:import-detail", args=[incident.reference, imp.pk])
        TimelineImport.objects.filter(pk=imp.pk).update(status=ImportStatus.VALIDATING, rows_checked=5000)
        polled = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert 'hx-trigger="every 1s"' in polled
        assert '<strong class="rows-checked">5000</strong> checked so far' in polled
        assert "<html" not in polled  # the part alone
        TimelineImport.objects.filter(pk=imp.pk).update(status=ImportStatus.READY, rows_checked=1, rows_total=1)
        still = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert "hx-trigger" not in still
        assert "Import 1 event" in still

    def test_the_form_page_lists_recent_imports(self, login, lead, incident, django_capture_on_commit_callbacks):
        client = login(lead)
        _upload(
            client,
            incident,
            "first.csv",
            "occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n",
            django_capture_on_commit_callbacks,
        )
        page = client.get(reverse("timeline:import", args=[incident.reference])).content.decode()
        assert "first.csv" in page
        assert 'enctype="multipart/form-data"' in page


def test_when_nothing_is_queued_nothing_is_written_before_commit(login, lead, incident):
    # The check is enqueued when the upload's transaction commits, not before.
    client = login(lead)
    client.post(
        reverse("timeline:import", args=[incident.reference]),
        {
            "default_timezone": "UTC",
            "file": ContentFile(b"occurred_at,kind,title\n2026-03-01T10:00:00Z,attacker,A\n", name="x.csv"),
        },
    )
    assert _latest().status == "validating"
