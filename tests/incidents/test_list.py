"""The incident list, in the browser (``/incidents/``) and the API (``/api/v1/incidents/``):
sorting, the open-only default, tags, the Age and Updated columns, and query counts.

Search has its own module (test_search.py). Expected orders are written out from the table in
``board``'s docstring, never derived from the sort keys under test.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from incidents import pagination, services
from incidents.models import Incident, ReferenceCounter
from tests.factories import make_incident

pytestmark = pytest.mark.django_db

LIST = "/api/v1/incidents/"
PAGE = reverse("incidents:list")
YEAR = timezone.now().year  # references carry the year they were opened in


def ref(number: int, year: int = YEAR) -> str:
    return f"IR-{year}-{number:04d}"


def api_refs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["reference"] for row in response.json()["results"]]


def page_refs(response) -> list[str]:
    assert response.status_code == 200
    return [incident.reference for incident in response.context["page"].object_list]


@pytest.fixture
def board(lead, responder) -> dict[int, Incident]:
    """Six incidents, opened in this order (so references 0001 to 0006), then given these
    severities, statuses (through the services) and times (days ago):

    | ref  | severity | status        | created | updated | detected | tags                   |
    |------|----------|---------------|---------|---------|----------|------------------------|
    | 0001 | low      | closed        | 3       | 1       | 3.5      | payroll                |
    | 0002 | critical | investigating | 8       | 5       | 9        | ransomware, lockbit    |
    | 0003 | medium   | new           | 6       | 0.5     | 6.5      | phishing               |
    | 0004 | high     | contained     | 4       | 3       | 30       | ransomware             |
    | 0005 | critical | triage        | 2       | 2       | 2.5      | ransomware, lockbit, m365 |
    | 0006 | low      | new           | 1       | 0.8     | 1.5      |                        |
    """
    rows = [
        # severity, tags, (created, updated, detected) days ago
        ("low", ["payroll"], (3, 1, 3.5)),
        ("critical", ["ransomware", "lockbit"], (8, 5, 9)),
        ("medium", ["phishing"], (6, 0.5, 6.5)),
        ("high", ["ransomware"], (4, 3, 30)),
        ("critical", ["ransomware", "lockbit", "m365"], (2, 2, 2.5)),
        ("low", [], (1, 0.8, 1.5)),
    ]
    incidents = {}
    for number, (severity, tags, _) in enumerate(rows, start=1):
        incidents[number] = make_incident(
            opened_by=responder, lead=lead, title=f"Board case {number}", severity=severity, tags=tags
        )
    services.incident_close(incident=incidents[1], actor=lead, resolution="false_positive")
    services.incident_transition(incident=incidents[2], to="investigating", actor=lead)
    services.incident_transition(incident=incidents[4], to="investigating", actor=lead)
    services.incident_transition(incident=incidents[4], to="contained", actor=lead)
    services.incident_transition(incident=incidents[5], to="triage", actor=lead)
    now = timezone.now()
    for number, (_, _, (created, updated, detected)) in enumerate(rows, start=1):
        Incident.objects.filter(pk=incidents[number].pk).update(
            created_at=now - timedelta(days=created),
            updated_at=now - timedelta(days=updated),
            detected_at=now - timedelta(days=detected),
        )
    for incident in incidents.values():
        incident.refresh_from_db()
    assert [i.reference for i in incidents.values()] == [ref(n) for n in range(1, 7)]
    return incidents


# Every sort key both ways, as numbers of the board's references. Ties (two lows, two criticals,
# two new) are broken by creation time in the same direction.
ORDERINGS = [
    ("severity", [1, 6, 3, 4, 2, 5]),  # low (0001 created before 0006), medium, high, critical
    ("-severity", [5, 2, 4, 3, 6, 1]),  # critical first
    ("status", [3, 6, 5, 2, 4, 1]),  # new, new, triage, investigating, contained, closed
    ("-status", [1, 4, 2, 5, 6, 3]),
    ("updated", [2, 4, 5, 1, 6, 3]),  # least recently updated first
    ("-updated", [3, 6, 1, 5, 4, 2]),
    ("age", [6, 5, 1, 4, 3, 2]),  # youngest first
    ("-age", [2, 3, 4, 1, 5, 6]),  # oldest first
    ("reference", [1, 2, 3, 4, 5, 6]),
    ("-reference", [6, 5, 4, 3, 2, 1]),
    ("created", [2, 3, 4, 1, 5, 6]),  # kept for API clients: oldest first
    ("-created", [6, 5, 1, 4, 3, 2]),
    ("detected", [4, 2, 3, 1, 5, 6]),
    ("-detected", [6, 5, 1, 3, 2, 4]),
]


# --- Sorting -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ordering", "expected"), ORDERINGS)
def test_api_sorts_by_each_key_both_ways(api, lead, board, ordering, expected):
    response = api("incidents:read", user=lead).get(LIST, {"ordering": ordering})

    assert api_refs(response) == [ref(n) for n in expected]


@pytest.mark.parametrize(("ordering", "expected"), ORDERINGS)
def test_page_sorts_by_each_key_both_ways(login, lead, board, ordering, expected):
    response = login(lead).get(PAGE, {"ordering": ordering, "include_closed": "true"})

    assert page_refs(response) == [ref(n) for n in expected]


def test_page_sorts_the_open_incidents_by_default(login, lead, board):
    response = login(lead).get(PAGE, {"ordering": "-severity"})

    assert page_refs(response) == [ref(5), ref(2), ref(4), ref(3), ref(6)]  # 0001 is closed


def test_sort_pages_do_not_overlap(api, lead, board):
    client = api("incidents:read", user=lead)

    pages = [api_refs(client.get(LIST, {"ordering": "-severity", "page_size": 2, "page": n})) for n in (1, 2, 3)]

    assert pages == [[ref(5), ref(2)], [ref(4), ref(3)], [ref(6), ref(1)]]


def test_reference_order_is_by_year_then_number_past_9999(api, lead):
    """Text order would put IR-YYYY-10000 before IR-YYYY-9999; references sort as numbers."""
    ReferenceCounter.objects.create(year=YEAR, last=9997)
    for title in ("9998", "9999", "10000", "10001"):
        make_incident(opened_by=lead, title=title)
    last_year = make_incident(opened_by=lead, title="last year")
    Incident.objects.filter(pk=last_year.pk).update(reference=ref(12000, YEAR - 1))
    client = api("incidents:read", user=lead)

    ascending = api_refs(client.get(LIST, {"ordering": "reference"}))
    descending = api_refs(client.get(LIST, {"ordering": "-reference"}))

    expected = [ref(12000, YEAR - 1), ref(9998), ref(9999), f"IR-{YEAR}-10000", f"IR-{YEAR}-10001"]
    assert ascending == expected
    assert descending == expected[::-1]


@pytest.mark.parametrize(
    "ordering", ["bogus", "-", "--severity", "Severity", "severity,-updated", "severity ", "title", "relevance"]
)
def test_api_refuses_an_unknown_ordering_with_a_400(api, lead, board, ordering):
    response = api("incidents:read", user=lead).get(LIST, {"ordering": ordering})

    assert response.status_code == 400
    assert response.json() == {"ordering": [f"Select a valid choice. {ordering} is not one of the available choices."]}


def test_page_shows_an_unknown_ordering_as_a_form_error_and_keeps_the_other_filters(login, lead, board):
    response = login(lead).get(PAGE, {"ordering": "bogus", "severity": "critical"})

    assert response.status_code == 200
    assert "Select a valid choice. bogus is not one of the available choices." in response.text
    # The bad sort is ignored, the severity filter still applies, in the default order.
    assert page_refs(response) == [ref(5), ref(2)]


def test_filtering_keeps_a_valid_sort_and_drops_an_invalid_one(login, lead, board):
    client = login(lead)

    kept = client.get(PAGE, {"ordering": "-severity"}).text
    dropped = client.get(PAGE, {"ordering": "bogus"}).text

    assert '<input type="hidden" name="ordering" value="-severity">' in kept
    assert 'name="ordering"' not in dropped


def test_headers_sort_by_their_column_keep_the_filters_and_restart_at_page_one(login, lead, board):
    response = login(lead).get(PAGE, {"severity": "critical", "ordering": "-severity", "page": "1"})
    html = response.text

    # The sorted column says so; a click on it reverses the order, dropping the page number.
    assert (
        '<th scope="col" class="sortable" aria-sort="descending">'
        '<a href="?severity=critical&amp;ordering=severity">Severity</a></th>'
    ) in html
    # Another column starts in its own first direction, with the same filters.
    assert '<th scope="col" class="sortable"><a href="?severity=critical&amp;ordering=status">Status</a></th>' in html
    assert (
        '<th scope="col" class="sortable"><a href="?severity=critical&amp;ordering=-updated">Updated</a></th>' in html
    )
    assert '<th scope="col" class="sortable"><a href="?severity=critical&amp;ordering=age">Age</a></th>' in html
    assert (
        '<th scope="col" class="sortable"><a href="?severity=critical&amp;ordering=-reference">Reference</a></th>'
        in html
    )
    assert html.count("aria-sort=") == 1


def test_the_default_order_is_shown_on_the_age_column(login, lead, board):
    html = login(lead).get(PAGE).text

    assert '<th scope="col" class="sortable" aria-sort="ascending"><a href="?ordering=-age">Age</a></th>' in html
    assert html.count("aria-sort=") == 1


def test_age_and_last_update_columns(login, lead, board):
    html = login(lead).get(PAGE, {"ordering": "reference"}).text
    created = board[2].created_at
    updated = board[2].updated_at

    # 0002 was opened 8 days ago and last updated 5 days ago; the exact times are in the markup.
    assert f'<time datetime="{created.isoformat()}" title="Opened {created:%-d %b %Y %H:%M} UTC">8 d</time>' in html
    assert f'<time datetime="{updated.isoformat()}" title="{updated:%-d %b %Y %H:%M} UTC">5\xa0days ago</time>' in html
    assert ">6 d</time>" in html and ">4 d</time>" in html and ">2 d</time>" in html and ">1 d</time>" in html


# --- Open only by default ------------------------------------------------------------------------
def test_page_shows_open_incidents_unless_closed_ones_are_included(login, lead, board):
    client = login(lead)

    default = client.get(PAGE)
    included = client.get(PAGE, {"include_closed": "true"})
    open_only = client.get(PAGE, {"include_closed": "false"})

    assert page_refs(default) == [ref(6), ref(5), ref(4), ref(3), ref(2)]
    assert "5 open incidents" in default.text
    assert 'Open incidents only. <a href="?include_closed=true">Include closed</a>' in default.text
    assert page_refs(included) == [ref(6), ref(5), ref(1), ref(4), ref(3), ref(2)]
    assert "6 incidents" in included.text
    assert 'Open and closed incidents. <a href="?include_closed=false">Open only</a>' in included.text
    assert page_refs(open_only) == page_refs(default)


def test_the_count_stops_a_few_pages_past_the_one_asked_for(login, lead, board, settings, monkeypatch):
    """Counting every match on every page view cost more than the page at 100,000 incidents: the
    list counts up to ``COUNT_AT_LEAST`` rows or ``PAGES_AHEAD`` pages past the one asked, and
    says "+" when there are more. Here: 2 per page, at least 3 rows, 1 page ahead; 5 open."""
    monkeypatch.setattr(pagination, "COUNT_AT_LEAST", 3)
    monkeypatch.setattr(pagination, "PAGES_AHEAD", 1)
    settings.INCIDENT_PAGE_SIZE = 2
    client = login(lead)

    first = client.get(PAGE)
    last = client.get(PAGE, {"page": 3})

    assert page_refs(first) == [ref(6), ref(5)]
    assert "4+ open incidents" in first.text  # counted to 4 (2 pages) + 1
    assert "Page 1 of 2+" in first.text
    assert 'href="?page=2">Next' in first.text
    assert page_refs(last) == [ref(2)]
    assert "5 open incidents" in last.text  # page 3 counts to 8: all of them
    assert "Page 3 of 3" in last.text


def test_including_closed_keeps_the_other_filters_and_the_sort(login, lead, board):
    html = login(lead).get(PAGE, {"severity": "low", "ordering": "age", "page": "1"}).text

    assert '<a href="?severity=low&amp;ordering=age&amp;include_closed=true">Include closed</a>' in html


def test_a_chosen_status_replaces_the_open_only_default(login, lead, board):
    client = login(lead)

    assert page_refs(client.get(PAGE, {"status": "closed"})) == [ref(1)]
    assert page_refs(client.get(PAGE, {"status": ["new", "closed"]})) == [ref(6), ref(1), ref(3)]


def test_api_lists_every_status_unless_told_open_only(api, lead, board):
    client = api("incidents:read", user=lead)

    assert api_refs(client.get(LIST)) == [ref(n) for n in (6, 5, 1, 4, 3, 2)]
    assert api_refs(client.get(LIST, {"include_closed": "false"})) == [ref(n) for n in (6, 5, 4, 3, 2)]
    assert api_refs(client.get(LIST, {"include_closed": "true"})) == [ref(n) for n in (6, 5, 1, 4, 3, 2)]


# --- Tags ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["ransomware"], [5, 4, 2]),
        (["ransomware", "lockbit"], [5, 2]),  # every tag given (AND)
        (["ransomware", "lockbit", "m365"], [5]),
        (["lockbit", "phishing"], []),
        (["RansomWare", " lockbit "], [5, 2]),  # normalized as tags are stored
        (["ransomware", "ransomware"], [5, 4, 2]),
        (["payroll"], [1]),  # the API lists closed incidents
        (["nosuchtag"], []),
    ],
)
def test_api_filters_by_tags(api, lead, board, tags, expected):
    response = api("incidents:read", user=lead).get(LIST, {"tag": tags})

    assert api_refs(response) == [ref(n) for n in expected]


@pytest.mark.parametrize("tag", ["bad,tag", "#hash", "x" * 51, "a\x00b", "50%", "%s%(x)s"])
def test_api_refuses_a_tag_that_cannot_exist_with_a_400(api, lead, board, tag):
    response = api("incidents:read", user=lead).get(LIST, {"tag": tag})

    assert response.status_code == 400
    assert list(response.json()) == ["tag"]


def test_a_bad_tag_is_named_in_the_error_as_sent(api, login, lead, board):
    response = api("incidents:read", user=lead).get(LIST, {"tag": "50%"})
    page = login(lead).get(PAGE, {"tag": "50%"})

    message = "“50%” is not a tag: up to 50 letters, digits, spaces and . _ : / + -, starting with a letter or digit."
    assert response.json() == {"tag": [message]}
    assert page.status_code == 200
    assert "Tag: “50%” is not a tag" in page.text


def test_page_filters_by_tags_and_shows_them_as_links(login, lead, board):
    response = login(lead).get(PAGE, {"tag": ["ransomware", "lockbit"], "severity": "critical"})
    html = response.text

    assert page_refs(response) == [ref(5), ref(2)]
    # The chosen tags are chips; each removes itself from the filter, keeping the rest.
    assert '<a class="tag-chip chosen" href="?tag=lockbit&amp;severity=critical"' in html
    assert '<a class="tag-chip chosen" href="?tag=ransomware&amp;severity=critical"' in html
    # A row's tags add themselves to the current filters.
    assert (
        '<a class="tag-chip" href="?tag=ransomware&amp;tag=lockbit&amp;severity=critical&amp;tag=m365" '
        'title="Only incidents tagged m365">m365</a>'
    ) in html


def test_a_row_tag_link_filters_the_list(login, lead, board):
    client = login(lead)
    html = client.get(PAGE).text

    assert '<a class="tag-chip" href="?tag=phishing" title="Only incidents tagged phishing">phishing</a>' in html
    assert page_refs(client.get(PAGE, {"tag": "phishing"})) == [ref(3)]


# --- Query counts --------------------------------------------------------------------------------
@pytest.fixture
def sixty(lead, responder) -> None:
    for n in range(60):
        make_incident(
            opened_by=responder,
            lead=lead,
            title=f"Lockbit wave {n}" if n % 3 else f"Quiet case {n}",
            tags=["ransomware", "lockbit"] if n % 2 else ["phishing"],
        )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ordering": "-severity"},
        {"q": "lockbit"},
        {"q": "lockbit", "ordering": "-updated", "tag": "ransomware", "include_closed": "true"},
        {"ordering": "nonsense"},  # the form error costs nothing more
    ],
)
def test_page_query_count(login, lead, sixty, settings, params, django_assert_num_queries):
    settings.INCIDENT_PAGE_SIZE = 25
    client = login(lead)
    # 1 the session, 2 the user, 3 COUNT(*) of the matching incidents (the heading, the pager),
    # 4 the page: lead joined, each row's tag names and, when searching, its rank computed in it,
    # 5 the people the Lead filter offers.
    with django_assert_num_queries(5):
        response = client.get(PAGE, params)

    assert response.status_code == 200
    assert len(response.context["page"].object_list) > 0


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 5},
        {"page_size": 50, "ordering": "-severity"},
        {"page_size": 50, "q": "lockbit"},
        {"page_size": 50, "q": "lockbit", "ordering": "status", "tag": "ransomware", "include_closed": "false"},
    ],
)
def test_api_query_count(api, lead, sixty, params, django_assert_num_queries):
    client = api("incidents:read", user=lead)
    client.get(LIST, {"page_size": 1})  # the key's first use stamps last_used_at (an UPDATE): keep it out
    # 1 the API key (with its user), 2 the page, one row more than asked (lead and playbook
    # joined; searching and sorting add no query: the rank is computed in it), 3 the page's tags.
    with django_assert_num_queries(3):
        response = client.get(LIST, params)

    assert response.status_code == 200
    assert len(response.json()["results"]) > 0


# --- Indexes (PostgreSQL) ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ordering", "index"),
    [
        ("severity", "incident_severity_sort_idx"),
        ("-severity", "incident_severity_sort_idx"),
        ("status", "incident_status_sort_idx"),
        ("-status", "incident_status_sort_idx"),
        ("updated", "incident_updated_sort_idx"),
        ("-updated", "incident_updated_sort_idx"),
        ("age", "incident_recent_idx"),
        ("-age", "incident_recent_idx"),
        ("reference", "incident_reference_sort_idx"),
        ("-reference", "incident_reference_sort_idx"),
    ],
)
def test_each_sort_reads_its_index_on_postgresql(postgres, admin, board, ordering, index):
    """The sort keys are the expressions migration 0005 indexed: with sorting priced out, the
    plan must read the index in order rather than sort (a changed CASE would sort)."""
    from incidents.selectors import incident_filter

    queryset = incident_filter(viewer=admin, filters={"ordering": ordering}).qs[:50]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert index in plan
    assert "Sort" not in plan.replace("Sort Key", "")
