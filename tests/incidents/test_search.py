"""Search (``?q=``) on the incident list and the API: what it finds, in what order, and above all
what it must never find (incidents the viewer cannot see; internal findings for a vendor).

The shared cases hold on both databases: whole words, which PostgreSQL's full-text search and
SQLite's ``icontains`` both match. Stemming and the websearch syntax are PostgreSQL's (the
``postgres`` fixture skips them elsewhere, and fails them under CI=true); substring matching is
SQLite's fallback.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import Incident
from incidents.search import reference_candidates
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

LIST = "/api/v1/incidents/"
PAGE = reverse("incidents:list")
YEAR = timezone.now().year


def ref(number: int, year: int = YEAR) -> str:
    return f"IR-{year}-{number:04d}"


def found(client, q: str, **params) -> list[str]:
    response = client.get(LIST, {"q": q, **params})
    assert response.status_code == 200, response.content
    return [row["reference"] for row in response.json()["results"]]


@pytest.fixture
def sqlite(db) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's icontains fallback")


@pytest.fixture
def cases(lead, responder) -> dict[str, Incident]:
    """Incidents 0001 to 0005, each matching "lockbit" in one place only:

    | ref  | title                              | where "lockbit" is                    |
    |------|------------------------------------|---------------------------------------|
    | 0001 | Ransom note on the file server     | the summary                           |
    | 0002 | LockBit affiliate on build servers | the title                             |
    | 0003 | Scanner error 0001 on the proxy    | nowhere (its title has "0001")        |
    | 0004 | Encrypted shares on NAS            | a tag                                 |
    | 0005 | Suspicious PowerShell on a laptop  | a finding                             |
    """
    incidents = {
        "summary": make_incident(
            opened_by=responder, title="Ransom note on the file server", summary="The note names LockBit."
        ),
        "title": make_incident(opened_by=responder, title="LockBit affiliate on build servers"),
        "other": make_incident(opened_by=responder, title="Scanner error 0001 on the proxy"),
        "tag": make_incident(opened_by=responder, title="Encrypted shares on NAS", tags=["lockbit", "nas"]),
        "finding": make_incident(opened_by=responder, title="Suspicious PowerShell on a laptop"),
    }
    services.finding_add(incident=incidents["finding"], author=lead, body="Loader drops a LockBit sample.")
    assert [i.reference for i in incidents.values()] == [ref(n) for n in range(1, 6)]
    return incidents


# --- What it finds, on both databases ------------------------------------------------------------
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # Matches in the title rank first, then a tag, then the summary, then a finding.
        ("lockbit", [2, 4, 1, 5]),
        ("LOCKBIT", [2, 4, 1, 5]),
        ("powershell", [5]),  # the title
        ("nas", [4]),  # a tag (and the title)
        ("ransom", [1]),
        ("nothing-like-this", []),
    ],
)
def test_search_finds_titles_tags_summaries_and_findings(api, lead, cases, q, expected):
    assert found(api("incidents:read", user=lead), q) == [ref(n) for n in expected]


@pytest.mark.parametrize(
    "q", ["0003", "3", "003", f"{YEAR}-0003", f"IR-{YEAR}-0003", f"ir-{YEAR}-0003", f"  IR{YEAR}-0003 "]
)
def test_search_finds_a_reference_from_any_part_of_it(api, lead, cases, q):
    assert found(api("incidents:read", user=lead), q) == [ref(3)]


def test_a_reference_ranks_above_a_title_that_contains_the_same_number(api, lead, cases):
    # 0001 by its reference; 0003's title says "error 0001".
    assert found(api("incidents:read", user=lead), "0001") == [ref(1), ref(3)]


def test_a_reference_of_another_year_is_not_this_years(api, lead, cases):
    assert found(api("incidents:read", user=lead), f"IR-{YEAR - 1}-0003") == []


def test_reference_candidates():
    assert reference_candidates(f"IR-{YEAR}-0042") == [f"IR-{YEAR}-0042"]
    assert reference_candidates(f"irr-{YEAR}-0007") == [f"IRR-{YEAR}-0007"]
    # Without a prefix, both series: the open one, then the restricted one.
    assert reference_candidates("2025-10042") == ["IR-2025-10042", "IRR-2025-10042"]
    assert reference_candidates("42")[:2] == ["IR-2000-0042", "IR-2001-0042"]
    assert f"IR-{YEAR}-0042" in reference_candidates("42")
    assert reference_candidates("42")[-1] == f"IRR-{YEAR}-0042"
    assert reference_candidates("0") == []
    assert reference_candidates("IR-") == []
    assert reference_candidates("phishing 42") == []


def test_an_explicit_ordering_wins_over_relevance(api, lead, cases):
    client = api("incidents:read", user=lead)

    assert found(client, "lockbit", ordering="reference") == [ref(1), ref(2), ref(4), ref(5)]
    assert found(client, "lockbit", ordering="-age") == [ref(1), ref(2), ref(4), ref(5)]


def test_with_an_explicit_ordering_the_rank_is_not_computed(api, lead, cases, django_assert_num_queries):
    client = api("incidents:read", user=lead)
    client.get(LIST)  # the key's first use stamps last_used_at

    with django_assert_num_queries(3) as ranked:
        client.get(LIST, {"q": "lockbit"})
    with django_assert_num_queries(3) as ordered:
        client.get(LIST, {"q": "lockbit", "ordering": "reference"})

    assert "search_rank" in ranked.captured_queries[1]["sql"]
    assert "search_rank" not in ordered.captured_queries[1]["sql"]


def test_search_combines_with_the_other_filters(api, lead, responder, cases):
    services.incident_transition(incident=cases["tag"], to="triage", actor=responder)
    client = api("incidents:read", user=lead)

    assert found(client, "lockbit", status="triage") == [ref(4)]
    assert found(client, "lockbit", tag="nas") == [ref(4)]
    assert found(client, "lockbit", include_closed="false") == [ref(2), ref(4), ref(1), ref(5)]


def test_the_page_ranks_by_relevance_and_offers_it_back_after_sorting(login, lead, cases):
    client = login(lead)

    ranked = client.get(PAGE, {"q": "lockbit"})
    sorted_ = client.get(PAGE, {"q": "lockbit", "ordering": "reference"})

    assert [i.reference for i in ranked.context["page"].object_list] == [ref(2), ref(4), ref(1), ref(5)]
    assert "Ranked by relevance" in ranked.text
    assert "aria-sort=" not in ranked.text  # no column is the order
    assert [i.reference for i in sorted_.context["page"].object_list] == [ref(1), ref(2), ref(4), ref(5)]
    assert '<a href="?q=lockbit">Rank by relevance</a>' in sorted_.text


@pytest.mark.parametrize("q", ["   ", "", "\t"])
def test_a_blank_search_is_no_search(api, lead, cases, q):
    assert found(api("incidents:read", user=lead), q) == [ref(n) for n in (5, 4, 3, 2, 1)]


@pytest.mark.parametrize("q", ["a\x00b", "x" * 201])
def test_a_search_the_database_cannot_take_is_a_400(api, lead, cases, q):
    response = api("incidents:read", user=lead).get(LIST, {"q": q})

    assert response.status_code == 400
    assert list(response.json()) == ["q"]


@pytest.mark.parametrize(
    "q", ["'", '"', "!", "&|", "(((", ":*", "-", "or", '"unclosed', "lockbit & | !", "\\", "%", "_", "🦠"]
)
def test_any_punctuation_is_searched_not_an_error(api, lead, cases, q):
    assert api("incidents:read", user=lead).get(LIST, {"q": q}).status_code == 200


# --- What it must never find ---------------------------------------------------------------------
def test_search_never_finds_an_incident_the_viewer_cannot_see(api, lead, outsider, restricted_incident):
    """The restricted incident's title, summary, finding and tag all match; only members find it."""
    services.finding_add(incident=restricted_incident, author=lead, body="Exfiltrated over Mega; rclone used.")
    restricted_incident.refresh_from_db()
    services.incident_update(
        incident=restricted_incident, actor=lead, version=restricted_incident.version, changes={"tags": ["rclone"]}
    )
    outsider_api = api("incidents:read", user=outsider)
    lead_api = api("incidents:read", user=lead)

    for q in ["exfiltrated", "rclone", "weights", "contractor", restricted_incident.reference, "0001"]:
        assert found(outsider_api, q) == [], q
        assert found(lead_api, q) == [restricted_incident.reference], q


def test_search_on_the_page_never_finds_an_incident_the_viewer_cannot_see(login, lead, outsider, restricted_incident):
    services.finding_add(incident=restricted_incident, author=lead, body="Exfiltrated over Mega; rclone used.")

    response = login(outsider).get(PAGE, {"q": "rclone", "include_closed": "true"})

    assert list(response.context["page"].object_list) == []
    assert restricted_incident.reference not in response.text


def test_a_vendor_never_finds_an_incident_through_an_internal_finding(
    api, lead, vendor, admin, restricted_incident, incident
):
    """victor is invited to the restricted incident. Its internal finding says "kerberoasting";
    its shared one says "sharepoint"; an incident he is not on has a shared "sharepoint" finding."""
    services.finding_add(incident=restricted_incident, author=lead, body="Kerberoasting from HR laptop.", internal=True)
    services.finding_add(incident=restricted_incident, author=lead, body="SharePoint site exported.", internal=False)
    services.finding_add(incident=incident, author=lead, body="SharePoint share links abused.", internal=False)
    vendor_api = api("incidents:read", user=vendor)

    assert found(vendor_api, "kerberoasting") == []
    assert found(vendor_api, "sharepoint") == [restricted_incident.reference]
    # Staff on the case find it through the internal finding; an admin through both.
    assert found(api("incidents:read", user=lead), "kerberoasting") == [restricted_incident.reference]
    assert found(api("incidents:read", user=admin), "sharepoint") == [incident.reference, restricted_incident.reference]


def test_a_vendor_finds_nothing_through_an_internal_finding_on_the_page(login, lead, vendor, restricted_incident):
    services.finding_add(incident=restricted_incident, author=lead, body="Kerberoasting from HR laptop.", internal=True)

    response = login(vendor).get(PAGE, {"q": "kerberoasting"})

    assert list(response.context["page"].object_list) == []


def test_a_vendor_admin_is_an_admin(api, lead, restricted_incident):
    """``sees_everything`` wins over the vendor role, as everywhere else."""
    boss = UserFactory(username="vera", role="vendor", is_superuser=True)
    services.finding_add(incident=restricted_incident, author=lead, body="Kerberoasting from HR laptop.", internal=True)

    assert found(api("incidents:read", user=boss), "kerberoasting") == [restricted_incident.reference]


# --- PostgreSQL: full-text search ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("phished", [1]),  # stemming: the summary says "phishing"
        ("encrypt", [2]),  # "encrypted" in the title
        ('"cobalt strike"', [3]),  # a phrase
        ('"strike cobalt"', []),
        ("beacon -cobalt", [2]),  # excluded word
        ("mimikatz or phished", [3, 1]),
        ("the", []),  # only a stop word: nothing to search for, and no error
        ("ransom", []),  # words, not substrings
        ("lsass", [3]),  # a finding
    ],
)
def test_full_text_search_on_postgresql(postgres, api, lead, q, expected):
    make_incident(opened_by=lead, title="Mail gateway alert", summary="A phishing kit hosted on a lookalike domain.")
    make_incident(opened_by=lead, title="Encrypted beacon from ransomware host")
    third = make_incident(opened_by=lead, title="Cobalt Strike beacon", summary="Mimikatz on the jump host.")
    services.finding_add(incident=third, author=lead, body="LSASS dumped with procdump.")

    assert found(api("incidents:read", user=lead), q) == [ref(n) for n in expected]


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("viewer", "indexes"),
    [
        ("admin", ["incident_search_document_idx", "incident_search_findings_idx", "incident_search_internal_idx"]),
        ("vendor", []),  # only the incidents they are invited to: their memberships come first
    ],
)
def test_postgresql_search_reads_the_stored_documents_through_their_gin_indexes(
    postgres, request, cases, viewer, indexes
):
    """The stored documents are matched through their GIN indexes (migration 0006). A handful of
    rows is cheapest read whole, so whole-table reads (sequential, or a full walk of any B-tree)
    are priced out: what is left is reading indexes by condition. A vendor collaborator's search
    never reads the internal findings' document."""
    from incidents.selectors import incident_filter

    user = request.getfixturevalue(viewer)
    plan = _plan(incident_filter(viewer=user, filters={"q": "lockbit"}).qs[:50])

    for index in indexes:
        assert f"Bitmap Index Scan on {index}" in plan
    assert ("search_internal" in plan) == (viewer == "admin")


def test_the_document_follows_every_change_to_the_text_in_it(postgres, api, lead, responder):
    incident = make_incident(opened_by=responder, title="Beacon on the build server", tags=["buildfarm"])
    client = api("incidents:read", user=lead)
    assert found(client, "beacon") == [incident.reference]

    services.incident_update(
        incident=incident,
        actor=responder,
        version=incident.version,
        changes={"title": "Token theft from the CI runner", "summary": "Exfiltration over DNS.", "tags": ["runner"]},
    )
    services.finding_add(incident=incident, author=responder, body="The attacker used a Jenkins token.", internal=False)
    services.finding_add(incident=incident, author=responder, body="Suspect: a Contoso engineer.", internal=True)

    assert found(client, "beacon") == []  # the old title is gone
    assert found(client, "buildfarm") == []  # the old tag too
    for word in ["theft", "exfiltration", "runner", "jenkins", "contoso"]:
        assert found(client, word) == [incident.reference], word


def test_relevance_counts_where_and_how_often(postgres, api, lead):
    once = make_incident(opened_by=lead, title="Kerberoasting seen", summary="Nothing else.")
    twice = make_incident(opened_by=lead, title="Kerberoasting and more kerberoasting", summary="Nothing else.")
    older_summary = make_incident(opened_by=lead, title="Odd tickets", summary="Looks like kerberoasting.")
    summary = make_incident(opened_by=lead, title="Odd tickets again", summary="Looks like kerberoasting.")

    assert found(api("incidents:read", user=lead), "kerberoasting") == [
        twice.reference,
        once.reference,
        summary.reference,  # equal relevance: newest first
        older_summary.reference,
    ]


def test_refreshing_every_document_rebuilds_what_bulk_writes_left_out(postgres, api, lead):
    """Data written around the services (bulk loads, the benchmark's seed) is made searchable by
    one call; migration 0006 runs the same statement for the incidents that existed before it."""
    from incidents.search import search_documents_refresh

    incident = make_incident(opened_by=lead, title="Wiper on the file server")
    Incident.objects.filter(pk=incident.pk).update(search_document=None, title="Wiper on the print server")
    client = api("incidents:read", user=lead)
    assert found(client, "print") == []

    assert search_documents_refresh() == 1

    assert found(client, "print") == [incident.reference]


# --- SQLite: the icontains fallback --------------------------------------------------------------
def test_sqlite_matches_parts_of_words(sqlite, api, lead, cases):
    client = api("incidents:read", user=lead)

    assert found(client, "lock") == [ref(2), ref(4), ref(1), ref(5)]
    assert found(client, "ransom") == [ref(1)]
    assert found(client, "shell on") == [ref(5)]


def test_the_search_documents_are_kept_out_of_the_incident_rows(postgres, api, lead):
    """Migration 0020: the tsvector columns live in the TOAST table (STORAGE EXTERNAL, a low
    toast_tuple_target), so reading many incident rows does not read them; searching still does."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'incidents_incident'::regclass"
            " AND attname LIKE 'search_%%' ORDER BY attname"
        )
        storage = cursor.fetchall()
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = 'incidents_incident'::regclass")
        options = cursor.fetchone()[0]
    incident = make_incident(opened_by=lead, title="Kerberoasting from the build server")

    assert storage == [("search_document", "e"), ("search_findings", "e"), ("search_internal", "e")]
    assert options == ["toast_tuple_target=128"]
    assert found(api("incidents:read", user=lead), "kerberoasting") == [incident.reference]
