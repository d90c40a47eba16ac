"""Search for the incident list and API (``?q=``): what matches, and how results are ranked.

``incident_search(queryset, text, viewer=…)`` narrows ``queryset`` to the incidents that match
``text``. The caller starts ``queryset`` from ``selectors.incidents_visible_to(viewer)`` (the
list's FilterSet always does), so search can only narrow what the viewer may see: a match in an
incident they cannot see finds nothing, and internal findings are searched only for viewers who
may read them (``selectors.sees_internal``), so a vendor collaborator never finds an incident
through the text of an internal finding.

An incident matches when ``text`` is found in its reference, title, tags, summary or a finding
the viewer may see. Results come best first:

1. the incident ``text`` names by its reference (``42``, ``2026-0042``, ``IR-2026-0042``): exact
   candidates (``reference_candidates``), answered by the unique index;
2. then by relevance in the incident's own text: where the words are (title over tags over
   summary) and how often, PostgreSQL's ``ts_rank`` with its default weights 1.0, 0.4 and 0.2;
   a match in findings alone ranks last;
3. equal relevance, newest first.

On PostgreSQL each incident carries stored documents, kept current by
``search_documents_refresh``, which the services call on every write to their text, each with a
GIN index (migration 0006): ``search_document``, its own text weighted (title A, tags B, summary
C); ``search_findings``, its shared findings; ``search_internal``, its internal findings. The
findings are matched but not ranked, so the ranked document stays small enough to live in the
row: ranking a match reads no TOAST. The text is parsed by ``websearch_to_tsquery`` (``"a
phrase"``, ``or``, ``-word``) with English stemming (*phished* finds *phishing*); whole words
only. The indexes find the matches and ranking reads each match's row once: the cost of a search
grows with the number of matches, not with the table.

On SQLite (development) search is ``icontains`` on the same parts, ranked by where it is found
(title, tags, summary, findings) with the same order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.contrib.postgres.aggregates import StringAgg
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Case, F, FloatField, OuterRef, Q, QuerySet, Subquery, TextField, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Finding, Incident, format_reference

# The text search configuration of the documents and of the queries: change both together (the
# stored documents must then be rebuilt with ``search_documents_refresh()``).
SEARCH_CONFIG = "english"

# The rank of the incident a search names by its reference: above any relevance.
REFERENCE_RANK = 100.0
# SQLite's stand-in for the weights of the document: where the words were found.
_SQLITE_WEIGHTS = {"title": 3, "tags": 2, "summary": 1, "findings": 0}

# "42", "0042", "2026-0042", "IR-2026-0042", "ir2026-0042", "IRR-2026-0007": a reference, or the
# end of one. Without a prefix both series are meant.
_REFERENCE_FRAGMENT = re.compile(r"(?:(?P<prefix>IRR?)-?)?(?:(?P<year>\d{4})-)?(?P<number>\d{1,9})", re.IGNORECASE)
# References name the year an incident was opened (``models.format_reference``); none is older.
FIRST_REFERENCE_YEAR = 2000


def reference_candidates(text: str) -> list[str]:
    """The references ``text`` may mean: itself when it is a whole reference, the number in every
    year when only the number is given (``0042`` → ``IR-2025-0042``, ``IR-2026-0042``, …). Exact
    values, so the unique index on ``reference`` answers them; ``[]`` when ``text`` is no reference."""
    match = _REFERENCE_FRAGMENT.fullmatch(text.strip())
    if match is None:
        return []
    number = int(match["number"])
    if number == 0:
        return []
    # Without a year: that number in every year references can have (none is in the future).
    years = [int(match["year"])] if match["year"] else range(FIRST_REFERENCE_YEAR, timezone.now().year + 1)
    series = [match["prefix"].upper() == "IRR"] if match["prefix"] else [False, True]
    return [format_reference(year, number, restricted=restricted) for restricted in series for year in years]


# --- The stored documents (PostgreSQL) -----------------------------------------------------------
def _joined(queryset: QuerySet, field: str, order: str) -> Coalesce:
    """The ``field`` of the rows of ``queryset`` belonging to the outer incident, as one text."""
    text = queryset.order_by().values("incident_id").annotate(text=StringAgg(field, "\n", order_by=order))
    return Coalesce(Subquery(text.values("text")), Value(""), output_field=TextField())


def _findings(*, internal: bool) -> Coalesce:
    return _joined(Finding.objects.filter(incident=OuterRef("pk"), internal=internal), "body", "id")


def _document(*parts: tuple[object, str]) -> SearchVector:
    vectors = [SearchVector(expression, config=SEARCH_CONFIG, weight=weight) for expression, weight in parts]
    document = vectors[0]
    for vector in vectors[1:]:
        document = document + vector
    return document


def search_documents_refresh(incidents: Iterable[int] | None = None) -> int:
    """Rebuild the stored search documents of ``incidents`` (ids; every incident with ``None``) from
    their current text, in one statement; returns how many were rebuilt. Nothing on SQLite.

    Call it inside the transaction of the write, after the write has locked the incident row (an
    UPDATE of it does): the statement then sees every finding committed before the lock, so two
    findings added at once both end up in the document."""
    if connection.vendor != "postgresql":
        return 0
    tags = _joined(Incident.tags.through.objects.filter(incident=OuterRef("pk")), "tag__name", "tag__name")
    rows = Incident.objects.order_by()
    if incidents is not None:
        rows = rows.filter(pk__in=list(incidents))
    return rows.update(
        search_document=_document((F("title"), "A"), (tags, "B"), (F("summary"), "C")),
        search_findings=SearchVector(_findings(internal=False), config=SEARCH_CONFIG),
        search_internal=SearchVector(_findings(internal=True), config=SEARCH_CONFIG),
    )


# --- Searching -----------------------------------------------------------------------------------
def _postgresql_search(text: str, *, internal: bool) -> tuple[Q, Coalesce]:
    """(Where ``text`` is found, its relevance): the stored documents, their GIN indexes, ``ts_rank``."""
    query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
    found = Q(search_document=query) | Q(search_findings=query)
    if internal:
        found |= Q(search_internal=query)
    # Only the incident's own text is ranked: a match in a finding alone ranks 0.
    return found, Coalesce(SearchRank(F("search_document"), query), Value(0.0), output_field=FloatField())


def _sqlite_search(text: str, *, internal: bool) -> tuple[Q, Case]:
    """(Where ``text`` is found, its relevance): ``icontains``, ranked by the best place found."""
    findings = Finding.objects.order_by().filter(body__icontains=text)
    if not internal:
        findings = findings.filter(internal=False)
    where = {
        "title": Q(title__icontains=text),
        "tags": Q(pk__in=Incident.tags.through.objects.filter(tag__name__icontains=text).values("incident_id")),
        "summary": Q(summary__icontains=text),
        "findings": Q(pk__in=findings.values("incident_id")),
    }
    found = Q()
    for condition in where.values():
        found |= condition
    rank = Case(*(When(where[part], then=Value(float(w))) for part, w in _SQLITE_WEIGHTS.items()), default=Value(0.0))
    return found, rank


def incident_search(
    queryset: QuerySet[Incident], text: str, *, viewer: object, ranked: bool = True
) -> QuerySet[Incident]:
    """The incidents of ``queryset`` that match ``text`` (see the module's docstring).

    With ``ranked``, they are annotated with ``search_rank`` and ordered best first (see the
    module's docstring); without, the caller's ordering stands (an explicit ``ordering`` wins over
    relevance). ``queryset`` must already be limited to what ``viewer`` may see."""
    # Late import: selectors imports the filters, which import this module.
    from .selectors import sees_internal

    text = text.strip()
    if not text:
        return queryset
    search = _postgresql_search if connection.vendor == "postgresql" else _sqlite_search
    found, rank = search(text, internal=sees_internal(viewer))
    references = reference_candidates(text)
    if references:
        # References are matched exactly, not through the document: their digits would match
        # other incidents' text. The incident named comes first (``ts_rank`` is at most 1 per
        # document, so no relevance reaches REFERENCE_RANK).
        found |= Q(reference__in=references)
        rank = Case(When(reference__in=references, then=Value(REFERENCE_RANK)), default=rank, output_field=FloatField())
    matches = queryset.filter(found)
    if not ranked:
        return matches
    return matches.annotate(search_rank=rank).order_by(F("search_rank").desc(), F("created_at").desc(), F("id").desc())
