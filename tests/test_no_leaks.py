"""No list, search, correlation, aggregate or export shows what its viewer may not see.

One data set (``world``) puts a unique marker word in every piece of content of three incidents:

- ``pub``: unrestricted; the vendor collaborator is not on it;
- ``secret``: restricted; only its lead (lena) and a responder (ravi) are members;
- ``shared``: unrestricted, the vendor collaborator (victor, of Northwind) is a member; it holds
  shared content and internal content, and a second vendor's (Contoso's) involvement.

The same IP address is an indicator on all three, so a correlation panel or an indicator lookup
that ignored visibility would name the hidden incident. Each viewer (an outsider responder, an
executive, the vendor collaborator, an auditor, an integration's API key) then fetches every list,
search, correlation, aggregate and export, in the browser and through the API, and the test
collects every (url, marker) where a marker the viewer may not see appears: that list must be
empty. As a control, the markers the viewer may see must appear somewhere in the same responses,
and the incident's lead, fetching the same URLs, sees every marker.

What each viewer may see (written out in ``HIDDEN`` below) follows the rules of
``incidents.selectors.incidents_visible_to`` and ``shared_with``, ``incidents.vendors.selectors
.involvements_for``, ``incidents.permissions`` (``may_triage_alerts``, ``may_see_vendor_registry``,
``Action.DOWNLOAD_EVIDENCE``) and docs/architecture.md (the auditor reads restricted incidents'
entries in the audit log, by design).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import Role, User
from incidents import services as case_services
from incidents.evidence import services as evidence_services
from incidents.indicators import services as indicator_services
from incidents.models import Evidence, Incident, Indicator, MemberRole, Regime, VendorInvolvement
from incidents.regulatory import services as regulatory_services
from incidents.vendors import scope as scope_services
from incidents.vendors import services as vendor_services
from intake import services as intake_services
from intake.normalizers import NormalizedAlert
from intake.triage import alerts_link
from timeline import services as timeline_services

from .factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

SHARED_IP = "198.51.100.77"

# --- The markers, by what holds them -------------------------------------------------------------
# Every marker is one lowercase word (so full-text search finds it whole), none a substring of
# another. References are added by the fixture (they are only known once the incidents exist).
PUB = {
    "qzpubtitle",
    "qzpubsummary",
    "qzpubfinding",
    "qzpubtask",
    "qzpubtextevname",
    "qzpubtextevbody",
    "qzpubfileevname",
    "qzpubioc",
    "qzpubevent",
    "qzpubinvolvement",
    "qzpubregreason",
    "qzpubscope",
    "qzpubaccess",
}
SECRET = {
    "qzsecrettitle",
    "qzsecretsummary",
    "qzsecretfinding",
    "qzsecrettask",
    "qzsecrettextevname",
    "qzsecrettextevbody",
    "qzsecretfileevname",
    "qzsecretioc",
    "qzsecretdomain",
    "qzsecretevent",
    "qzsecretinvolvement",
    "qzsecretregreason",
    "qzsecretscope",
    "qzsecretaccess",
}
SHARED_OPEN = {
    "qzsharedtitle",
    "qzsharedfinding",
    "qzsharedtask",
    "qzsharedtextevname",
    "qzsharedtextevbody",
    "qzsharedfileevname",
    "qzsharedioc",
    "qzsharedevent",
    "qzsharedowninvolvement",
    "qzsharedscope",
    "qzsharedownquestion",
    "qzsharedlinkingevent",  # a shared event linking internal evidence, an internal indicator, Contoso
}
SHARED_INTERNAL = {
    "qzsharedintfinding",
    "qzsharedinttask",
    "qzsharedinttextevname",
    "qzsharedinttextevbody",
    "qzsharedintfileevname",
    "qzsharedintioc",
    "qzsharedintdomain",
    "qzsharedintevent",
    "qzsharedintscope",
}
# The bytes of evidence files (what a download returns).
PUB_FILE, SECRET_FILE, SHARED_FILE, SHARED_INT_FILE = (
    "qzpubfilebytes",
    "qzsecretfilebytes",
    "qzsharedfilebytes",
    "qzsharedintfilebytes",
)
FILES = {PUB_FILE, SECRET_FILE, SHARED_FILE, SHARED_INT_FILE}
# What evidence holds (a file's bytes, a text excerpt's text): only a download shows it.
EVIDENCE_CONTENT = FILES | {"qzpubtextevbody", "qzsecrettextevbody", "qzsharedtextevbody", "qzsharedinttextevbody"}
# Alerts: the title (on the queue, and on its incident's timeline as "Alert: …") and the raw payload.
PUB_ALERT, SECRET_ALERT = "qzpubalerttitle", "qzsecretalerttitle"
ALERT_RAW = {"qzpubalertraw", "qzsecretalertraw"}
# The second vendor (on ``shared`` and ``pub``), and registry content no incident page shows.
OTHER_VENDOR = {"qzcontosoname", "qzsharedotherinvolvement", "qzsharedotheraccess", "qzsharedotherquestion"}
REGISTRY = {"qzfabrikamname", "qzcontosocontract", "qznorthwindcontract", "qzcontosoknown"}
OWN_VENDOR = {"qznorthwindname"}


@dataclass
class World:
    pub: Incident
    secret: Incident
    shared: Incident
    markers: set[str]
    references: dict[str, str]  # marker name -> reference, for the reference markers
    urls: list[str] = field(default_factory=list)


def _file(name: str, content: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, f"{content}\n".encode(), content_type="text/plain")


def _content(incident: Incident, actor: User, tag: str, *, internal: bool | None = None) -> list[int]:
    """One of each kind of case content on ``incident``, every text carrying a ``qz<tag>…`` marker;
    returns the ids of its two evidence items (text, file)."""
    case_services.finding_add(incident=incident, author=actor, body=f"Seen: qz{tag}finding", internal=internal)
    case_services.task_add(incident=incident, actor=actor, title=f"Do qz{tag}task", internal=internal)
    text = evidence_services.evidence_text_add(
        incident=incident,
        actor=actor,
        name=f"qz{tag}textevname",
        text=f"log line qz{tag}textevbody",
        internal=internal,
    )
    (file,) = evidence_services.evidence_files_add(
        incident=incident, actor=actor, files=[_file(f"qz{tag}fileevname.log", f"qz{tag}filebytes")], internal=internal
    )
    timeline_services.event_add(
        incident=incident,
        actor=actor,
        occurred_at="2026-03-02T10:00:00Z",
        kind="attacker",
        title=f"Beacon qz{tag}event",
        internal=internal,
    )
    return [text.pk, file.pk]


def _ioc(incident: Incident, actor: User, value: str, description: str, kind: str = "ip", **fields) -> None:
    indicator_services.indicator_add(
        incident=incident, actor=actor, type=kind, value=value, description=description, **fields
    )


def _alert(sender: User, ref: str, title: str, raw: str):
    alert = NormalizedAlert(
        source_ref=ref, title=title, severity="low", observed_at=datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    )
    (result,) = intake_services.alerts_ingest(
        received=[intake_services.Received(alert=alert, raw={"id": ref, "payload": raw})],
        source="siem",
        format="generic",
        sender=sender,
    )
    return result.alert


@pytest.fixture
def auditor(db) -> User:
    return UserFactory(username="audrey", role=Role.AUDITOR)


@pytest.fixture
def world(lead, responder, outsider, executive, vendor, auditor) -> World:
    northwind = vendor_services.vendor_create(
        actor=lead, name="Northwind qznorthwindname", contract_reference="qznorthwindcontract"
    )
    contoso = vendor_services.vendor_create(
        actor=lead, name="Contoso qzcontosoname", contract_reference="qzcontosocontract"
    )
    fabrikam = vendor_services.vendor_create(actor=lead, name="Fabrikam qzfabrikamname")
    vendor.vendor = northwind
    vendor.save(update_fields=["vendor"])
    gdpr = Regime.objects.get(slug="gdpr-art33")

    pub = make_incident(opened_by=lead, lead=lead, title="Pub qzpubtitle", summary="About qzpubsummary.")
    secret = make_incident(
        opened_by=lead, lead=lead, title="Secret qzsecrettitle", summary="About qzsecretsummary.", restricted=True
    )
    case_services.member_add(incident=secret, user=responder, actor=lead)
    shared = make_incident(opened_by=lead, lead=lead, title="Shared qzsharedtitle")
    case_services.member_add(incident=shared, user=vendor, actor=lead, role=MemberRole.RESPONDER)

    files = [
        (pub, _content(pub, lead, "pub")),
        (secret, _content(secret, lead, "secret")),
        (shared, _content(shared, lead, "shared", internal=False)),
        (shared, _content(shared, lead, "sharedint", internal=True)),
    ]
    # Critical: the members are told at once (the notification carries the finding's text).
    case_services.finding_add(incident=secret, author=lead, body="Also qzsecretfinding", critical=True)
    case_services.finding_add(
        incident=shared, author=lead, body="Also qzsharedintfinding", internal=True, critical=True
    )

    # The same address everywhere: correlation must not name an incident the viewer may not see.
    _ioc(pub, lead, SHARED_IP, "qzpubioc")
    _ioc(secret, lead, SHARED_IP, "qzsecretioc")
    _ioc(secret, lead, "qzsecretdomain.example", "qzsecretioc", kind="domain")
    _ioc(shared, lead, SHARED_IP, "qzsharedioc", internal=False)
    _ioc(shared, lead, "qzsharedintdomain.example", "qzsharedintioc", kind="domain", internal=True)

    vendor_services.involvement_add(incident=pub, vendor=contoso, actor=lead, vendor_reference="qzpubinvolvement")
    vendor_services.involvement_add(
        incident=secret, vendor=northwind, actor=lead, vendor_reference="qzsecretinvolvement"
    )
    vendor_services.involvement_add(
        incident=shared, vendor=northwind, actor=lead, vendor_reference="qzsharedowninvolvement"
    )
    vendor_services.involvement_add(
        incident=shared, vendor=contoso, actor=lead, vendor_reference="qzsharedotherinvolvement"
    )

    others = VendorInvolvement.objects.filter(vendor=contoso)
    vendor_services.access_add(
        involvement=others.get(incident=shared),
        actor=lead,
        kind="api_token",
        system="erp",
        identifier="qzsharedotheraccess",
    )
    vendor_services.access_add(
        involvement=others.get(incident=pub), actor=lead, kind="api_token", system="erp", identifier="qzpubaccess"
    )
    vendor_services.access_add(
        involvement=VendorInvolvement.objects.get(incident=secret),
        actor=lead,
        kind="vpn_account",
        system="vpn",
        identifier="qzsecretaccess",
    )
    vendor_services.known_access_add(
        vendor=contoso, actor=lead, kind="api_token", system="erp", identifier="qzcontosoknown"
    )
    due = timezone.now() + timedelta(days=2)
    for involvement, text in ((others.get(incident=shared), "qzsharedotherquestion"), (None, "qzsharedownquestion")):
        involvement = involvement or VendorInvolvement.objects.get(incident=shared, vendor=northwind)
        vendor_services.question_ask(involvement=involvement, actor=lead, question=f"Why {text}?", due_at=due)
    for incident, name, internal in (
        (pub, "qzpubscope", None),
        (secret, "qzsecretscope", None),
        (shared, "qzsharedscope", False),
        (shared, "qzsharedintscope", True),
    ):
        scope_services.scope_add(incident=incident, actor=lead, kind="system", name=name, internal=internal)
    # A shared event may link what the vendor may not see: the links must not show it to them.
    timeline_services.event_add(
        incident=shared,
        actor=lead,
        occurred_at="2026-03-02T11:00:00Z",
        kind="attacker",
        title="Lateral qzsharedlinkingevent",
        internal=False,
        evidence=list(Evidence.objects.filter(incident=shared, internal=True).values_list("pk", flat=True)),
        indicators=list(Indicator.objects.filter(incident=shared, internal=True).values_list("pk", flat=True)),
        vendor=contoso.pk,
    )

    notices = []
    for incident, reason in ((pub, "qzpubregreason"), (secret, "qzsecretregreason")):
        regulatory_services.assessment_decide(
            incident=incident, regime=gdpr, decision="applies", reason=reason, actor=lead
        )
        notice = regulatory_services.notice_draft(incident=incident, regime=gdpr, actor=lead)
        notices.append((incident, notice.pk))

    siem = UserFactory(username="splunk-prod", role=Role.INTEGRATION)
    pub_alert = _alert(siem, "A-1", f"Alert {PUB_ALERT}", "qzpubalertraw")
    secret_alert = _alert(siem, "A-2", f"Alert {SECRET_ALERT}", "qzsecretalertraw")
    alerts_link(alerts=[pub_alert], incident=pub, actor=lead)
    alerts_link(alerts=[secret_alert], incident=secret, actor=lead)

    references = {"ref-pub": pub.reference, "ref-secret": secret.reference, "ref-shared": shared.reference}
    markers = (
        PUB
        | SECRET
        | SHARED_OPEN
        | SHARED_INTERNAL
        | FILES
        | {PUB_ALERT, SECRET_ALERT}
        | ALERT_RAW
        | OTHER_VENDOR
        | REGISTRY
        | OWN_VENDOR
        | set(references.values())
    )
    assert not [(a, b) for a in markers for b in markers if a != b and a in b], "markers must not contain others"

    urls = [
        "/",
        "/incidents/",
        "/incidents/live/?since=0",
        "/incidents/?status=closed",
        "/api/v1/incidents/?status=closed",
    ]
    for incident, notice_id in notices:
        urls += [
            f"/incidents/{incident.reference}/register/notices/{notice_id}/",
            f"/incidents/{incident.reference}/register/notices/{notice_id}/export.md",
            f"/api/v1/incidents/{incident.reference}/notices/{notice_id}/",
        ]
    for involvement in VendorInvolvement.objects.select_related("incident"):
        api = f"/api/v1/incidents/{involvement.incident.reference}/vendors/{involvement.pk}"
        urls += [f"{api}/", f"{api}/access/", f"{api}/questions/"]
    for incident in (pub, secret, shared):
        page = f"/incidents/{incident.reference}"
        api = f"/api/v1/incidents/{incident.reference}"
        urls += [
            f"{page}/",  # with its correlation, vendors, evidence, timeline and register panels
            f"{page}/live/?since=0.0.0",  # every panel, as changed since the start
            f"{page}/timeline/",
            f"{page}/timeline/key/",
            f"{page}/timeline/export.csv",
            f"{page}/timeline/export.json",
            f"{page}/evidence/manifest.csv",
            f"{page}/evidence/manifest.json",
            f"{page}/indicators/export.csv",
            f"{page}/indicators/export.stix",
            f"{api}/",
            f"{api}/findings/",
            f"{api}/tasks/",
            f"{api}/evidence/",
            f"{api}/evidence/manifest/",
            f"{api}/indicators/",
            f"{api}/indicators/export/csv/",
            f"{api}/indicators/export/stix/",
            f"{api}/vendors/",
            f"{api}/scope/",
            f"{api}/timeline/",
            f"{api}/register/",
            f"{api}/clocks/",
            f"{api}/notices/",
        ]
    for incident, evidence_ids in files:
        for evidence_id in evidence_ids:
            urls += [
                f"/incidents/{incident.reference}/evidence/{evidence_id}/download/",
                f"/api/v1/incidents/{incident.reference}/evidence/{evidence_id}/download/",
            ]
    urls += [f"/alerts/{alert.pk}/" for alert in (pub_alert, secret_alert)]
    urls += ["/alerts/", "/alerts/?status=linked", "/alerts/?status=new"]
    urls += [f"/vendors/{v.pk}/" for v in (northwind, contoso, fabrikam)]
    urls += [f"/api/v1/vendors/{v.pk}/" for v in (northwind, contoso, fabrikam)]
    urls += [f"/api/v1/vendors/{v.pk}/known-access/" for v in (northwind, contoso, fabrikam)]
    urls += ["/vendors/", "/vendors/access/", "/api/v1/vendors/"]
    urls += ["/api/v1/incidents/", f"/api/v1/indicators/?value={SHARED_IP}"]
    urls += ["/notifications/", "/notifications/bell/", "/notifications/log/"]
    urls += ["/accounts/audit/", "/accounts/audit/export.csv", "/accounts/audit/export.jsonl"]
    return World(pub=pub, secret=secret, shared=shared, markers=markers, references=references, urls=urls)


# --- What each viewer may not see ------------------------------------------------------------------
# The reference markers are named ref-<incident> here and replaced by the references.
SECRET_ALL = SECRET | {SECRET_FILE, "ref-secret"}
HIDDEN: dict[str, set[str]] = {
    # A responder on no incident: everything of the restricted incident; alerts are theirs to
    # triage (an alert's own title and payload are not the incident's: the queue says only "a
    # restricted incident").
    "outsider": SECRET_ALL,
    # Executives read: never evidence (files or excerpts), never the alert queue (raw payloads).
    "executive": SECRET_ALL | EVIDENCE_CONTENT | ALERT_RAW | {SECRET_ALERT},
    # Vendor collaborators: only ``shared``, only its shared content, only their own company.
    "vendor": (
        PUB
        | {PUB_FILE, PUB_ALERT, "ref-pub"}
        | SECRET_ALL
        | {SECRET_ALERT}
        | ALERT_RAW
        | SHARED_INTERNAL
        | {SHARED_INT_FILE}
        | OTHER_VENDOR
        | REGISTRY
    ),
    # Auditors read like staff who are on no incident (a reader: no evidence downloads) and are
    # no triagers; the audit log itself shows restricted incidents (``AUDIT_LOG`` below).
    "auditor": SECRET_ALL | EVIDENCE_CONTENT | ALERT_RAW | {SECRET_ALERT},
    # An integration's key (its own principal, incidents:read): unrestricted incidents only, no
    # alert queue, no audit log.
    "integration": SECRET_ALL | ALERT_RAW | {SECRET_ALERT},
    # Control: the lead of all three incidents sees everything.
    "lead": set(),
}
# The auditor's job is reading the whole log (docs/architecture.md, "Audit log").
AUDIT_LOG = ("/accounts/audit/",)


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _client(viewer: str, users: dict[str, User], api_key) -> Client:
    if viewer == "integration":
        return Client(HTTP_AUTHORIZATION=f"Api-Key {api_key('incidents:read')}")
    client = Client()
    client.force_login(users[viewer])
    return client


def _resolve(world: World, names: set[str]) -> set[str]:
    return {world.references.get(name, name) for name in names}


def sweep(client: Client, world: World) -> dict[str, set[str]]:
    """Every marker each URL's response holds: {url: markers}."""
    seen = {}
    for url in world.urls:
        body = _body(client.get(url))
        seen[url] = {marker for marker in world.markers if marker in body}
    return seen


@pytest.fixture
def users(lead, outsider, executive, vendor, auditor) -> dict[str, User]:
    return {"lead": lead, "outsider": outsider, "executive": executive, "vendor": vendor, "auditor": auditor}


def test_the_auditor_reads_restricted_incidents_in_the_audit_log(world, users, api_key):
    client = _client("auditor", users, api_key)
    body = _body(client.get("/accounts/audit/export.jsonl"))
    assert world.secret.reference in body


# --- Search: a hidden word finds nothing ----------------------------------------------------------
# The sweep's bodies cannot show this: a search answers with the matching incidents' titles, not
# with the word searched for (which the page echoes back in its search box anyway).
SEARCHED = {
    "qzsecrettitle": "secret",
    "qzsecretsummary": "secret",
    "qzsecretfinding": "secret",
    "qzsharedintfinding": "shared",
    "qzpubtitle": "pub",
}
FINDS: dict[str, list[str]] = {
    # viewer -> the words whose search finds their incident, written out.
    "outsider": ["qzpubtitle", "qzsharedintfinding"],
    "executive": ["qzpubtitle", "qzsharedintfinding"],
    "vendor": [],
    "auditor": ["qzpubtitle", "qzsharedintfinding"],
    "integration": ["qzpubtitle", "qzsharedintfinding"],
    "lead": ["qzpubtitle", "qzsecretfinding", "qzsecretsummary", "qzsecrettitle", "qzsharedintfinding"],
}


def searched(client: Client, world: World, viewer: str) -> tuple[list[str], list[str]]:
    """The words of ``SEARCHED`` whose search finds (exactly) their incident: by the API, by the page."""
    incidents = {"secret": world.secret, "shared": world.shared, "pub": world.pub}
    found_api, found_page = [], []
    for word, name in sorted(SEARCHED.items()):
        reference = incidents[name].reference
        response = client.get("/api/v1/incidents/", {"q": word})
        assert response.status_code == 200, response.content
        if [row["reference"] for row in response.json()["results"]] == [reference]:
            found_api.append(word)
        if viewer != "integration":
            page = client.get("/incidents/", {"q": word})
            if f"/incidents/{reference}/" in page.content.decode():
                found_page.append(word)
    return found_api, found_page


LOOKUPS = {"secret": "qzsecretdomain.example", "sharedint": "qzsharedintdomain.example", "ip": SHARED_IP}
LOOKUP_FINDS: dict[str, dict[str, list[str]]] = {
    "outsider": {"ip": ["shared", "pub"], "secret": [], "sharedint": ["shared"]},
    "executive": {"ip": ["shared", "pub"], "secret": [], "sharedint": ["shared"]},
    "vendor": {"ip": ["shared"], "secret": [], "sharedint": []},
    "auditor": {"ip": ["shared", "pub"], "secret": [], "sharedint": ["shared"]},
    "integration": {"ip": ["shared", "pub"], "secret": [], "sharedint": ["shared"]},
    "lead": {"ip": ["shared", "secret", "pub"], "secret": ["secret"], "sharedint": ["shared"]},
}


def looked_up(client: Client, world: World) -> dict[str, list[str]]:
    """Which incidents ``GET /api/v1/indicators/?value=`` names for each of ``LOOKUPS``."""
    names = {world.pub.reference: "pub", world.secret.reference: "secret", world.shared.reference: "shared"}
    found = {}
    for name, value in LOOKUPS.items():
        response = client.get("/api/v1/indicators/", {"value": value})
        assert response.status_code == 200, response.content
        found[name] = [names[row["reference"]] for row in response.json()["incidents"]]
    return found


# --- Every surface, as each viewer (one data set each: building it costs more than a sweep) -------
@pytest.mark.parametrize("viewer", ["outsider", "executive", "vendor", "auditor", "integration", "lead"])
def test_nothing_shows_what_the_viewer_may_not_see(viewer, world, users, api_key):
    client = _client(viewer, users, api_key)
    seen = sweep(client, world)
    hidden = _resolve(world, HIDDEN[viewer])
    leaks = sorted(
        (url, marker)
        for url, markers in seen.items()
        for marker in markers & hidden
        if not (viewer == "auditor" and url.startswith(AUDIT_LOG))
    )
    assert leaks == []
    # Control: everything else the viewer may see shows up somewhere, so the sweep reaches it.
    shown = set().union(*seen.values())
    assert sorted(world.markers - hidden - shown) == []

    # Search and indicator lookup answer with incidents, not with the word asked for.
    found_api, found_page = searched(client, world, viewer)
    assert found_api == FINDS[viewer]
    assert found_page == ([] if viewer == "integration" else FINDS[viewer])  # a key has no pages
    assert looked_up(client, world) == LOOKUP_FINDS[viewer]


# --- A duplicate of a restricted incident ---------------------------------------------------------
@pytest.mark.parametrize("viewer", ["outsider", "executive", "auditor"])
def test_a_duplicate_does_not_name_a_restricted_original(viewer, lead, users, api_key, restricted_incident):
    duplicate = make_incident(opened_by=lead, lead=lead, title="Same contractor token, reported twice")
    case_services.incident_close(
        incident=duplicate,
        actor=lead,
        resolution="duplicate",
        closing_summary="Same.",
        duplicate_of=restricted_incident.reference,
    )
    urls = [f"/incidents/{duplicate.reference}/", f"/incidents/{duplicate.reference}/live/?since=0.0.0"]
    named = {url: restricted_incident.reference in _body(_client(viewer, users, api_key).get(url)) for url in urls}
    assert named == {urls[0]: False, urls[1]: False}


def test_a_duplicate_names_its_original_to_those_who_see_it(lead, restricted_incident):
    # Control for the test above: the same page names the original to its lead.
    duplicate = make_incident(opened_by=lead, lead=lead, title="Same contractor token, reported twice")
    case_services.incident_close(
        incident=duplicate,
        actor=lead,
        resolution="duplicate",
        closing_summary="Same.",
        duplicate_of=restricted_incident.reference,
    )
    client = Client()
    client.force_login(lead)
    assert (
        f'href="/incidents/{restricted_incident.reference}/"'
        in client.get(f"/incidents/{duplicate.reference}/").content.decode()
    )
