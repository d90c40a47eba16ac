"""Search for the incident list and API (``?q=``): what matches, and how results are ranked.

``incident_search(queryset, text, viewer=…)`` narrows ``queryset`` to the incidents that match
``text``. The caller starts ``queryset`` from ``selectors.incidents_visible_to(viewer)`` (the
list's FilterSet always does), so search can only narrow what the viewer may see: a match in an
incident they cannot see finds nothing, and findings are searched through
``selectors.shared_with``, so a vendor collaborator never finds an incident through the text of an
internal finding.

An incident matches when ``text`` is found in any of these; where it is found ranks it:

| where                                    | rank | PostgreSQL                     | SQLite (development) |
|------------------------------------------|------|--------------------------------|----------------------|
| the reference (``42``, ``2026-0042``, …) |   +8 | exact candidates, unique index | the same             |
| the title                                |   +4 | full text, GIN                 | ``icontains``        |
| a tag's name                             |   +2 | full text, GIN                 | ``icontains``        |
| the summary                              |    0 | full text, GIN                 | ``icontains``        |
| a finding the viewer may see             |    0 | full text, GIN                 | ``icontains``        |

Equal ranks are newest first. On PostgreSQL the text is parsed by ``websearch_to_tsquery``
(``"a phrase"``, ``or``, ``-word``) with English stemming (*phished* finds *phishing*); whole
words only. Each part is answered by a GIN index on its own expression (migration 0005_search).

Why a rank by *where* rather than ``SearchRank``: ``ts_rank`` needs each matching document's
``tsvector``, and without a stored column (a model change) PostgreSQL recomputes it per row:
about 0.1 ms for a summary on the benchmark machine, so 0.3 s for a word found in 3% of 100,000
incidents. The GIN indexes tell *whether* each part matches without reading any text, so the
cost of a search grows with the number of matches only, and what an analyst wants first (the
incident named by its reference, then those with the words in their title) comes first.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorExact
from django.db import connection
from django.db.models import BooleanField, Case, F, Func, Q, QuerySet, Value, When
from django.utils import timezone

from .models import Finding, Incident, Tag

# The text search configuration of the queries and of the GIN indexes in migration 0005_search:
# change both together (the index is used only when its expression is the query's).
SEARCH_CONFIG = "english"

# Relevance: where the words were found. Matches only in a summary or a finding rank 0.
REFERENCE_WEIGHT = 8
TITLE_WEIGHT = 4
TAG_WEIGHT = 2

# "42", "0042", "2026-0042", "IR-2026-0042", "ir2026-0042": a reference, or the end of one.
_REFERENCE_FRAGMENT = re.compile(r"(?:IR-?)?(?:(?P<year>\d{4})-)?(?P<number>\d{1,9})", re.IGNORECASE)
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
    return [f"IR-{year}-{number:04d}" for year in years]


def text_vector(field: str) -> SearchVector:
    """The document searched for one text column; the GIN indexes are built on this expression."""
    return SearchVector(field, config=SEARCH_CONFIG)


class _IsAnyOf(Func):
    """``<expression> = ANY(ARRAY(<subquery>))``. Unlike ``IN (<subquery>)``, PostgreSQL can OR
    several of these into one bitmap scan of the primary key, after running each subquery once
    on its own index; ``OR`` between ``IN`` subqueries makes it read the whole table instead."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, tuple]:
        lhs, lhs_params = compiler.compile(self.source_expressions[0])
        rhs, rhs_params = compiler.compile(self.source_expressions[1])
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


def _matches(text: str, viewer: Any) -> tuple[Q, QuerySet, QuerySet]:
    """Where ``text`` is found: (the condition on an incident that it is in its title, its summary,
    a tag or a finding ``viewer`` may see; the ids of incidents with it in the title; the ids of
    incidents with it in a tag's name)."""
    # Late import: selectors imports the filters, which import this module.
    from .selectors import shared_with

    findings = shared_with(Finding.objects.order_by(), viewer)
    tag_links = Incident.tags.through.objects.order_by()
    if connection.vendor == "postgresql":
        query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)

        def found_in(field: str) -> SearchVectorExact:
            return SearchVectorExact(text_vector(field), query)

        in_title = Incident.objects.order_by().filter(found_in("title")).values("pk")
        in_tags = tag_links.filter(tag__in=Tag.objects.order_by().filter(found_in("name"))).values("incident_id")
        in_findings = findings.filter(found_in("body")).values("incident_id")
        # The incident's own columns are matched on the row itself, through their GIN indexes;
        # tags and findings through an array of ids (``_IsAnyOf``), each index read once. Bitmap
        # scans of all four are ORed together.
        own = Q(found_in("title")) | Q(found_in("summary"))
        elsewhere = Q(_IsAnyOf(F("pk"), ArraySubquery(in_tags))) | Q(_IsAnyOf(F("pk"), ArraySubquery(in_findings)))
        return own | elsewhere, in_title, in_tags
    in_title = Incident.objects.order_by().filter(title__icontains=text).values("pk")
    in_tags = tag_links.filter(tag__name__icontains=text).values("incident_id")
    in_findings = findings.filter(body__icontains=text).values("incident_id")
    found = Q(title__icontains=text) | Q(summary__icontains=text) | Q(pk__in=in_tags) | Q(pk__in=in_findings)
    return found, in_title, in_tags


def incident_search(queryset: QuerySet[Incident], text: str, *, viewer: Any, ranked: bool = True) -> QuerySet[Incident]:
    """The incidents of ``queryset`` that match ``text`` (see the module's docstring).

    With ``ranked``, they are annotated with ``search_rank`` and ordered by it, best first, then
    newest first; without, the caller's ordering stands (an explicit ``ordering`` wins over
    relevance). ``queryset`` must already be limited to what ``viewer`` may see."""
    text = text.strip()
    if not text:
        return queryset
    references = reference_candidates(text)
    found, in_title, in_tags = _matches(text, viewer)
    if references:
        found |= Q(reference__in=references)
    queryset = queryset.filter(found)
    if not ranked:
        return queryset
    # Title and tags are read a second time, as hashed subplans: one lookup per match each.
    rank = Case(When(pk__in=in_title, then=Value(TITLE_WEIGHT)), default=Value(0)) + Case(
        When(pk__in=in_tags, then=Value(TAG_WEIGHT)), default=Value(0)
    )
    if references:
        rank += Case(When(reference__in=references, then=Value(REFERENCE_WEIGHT)), default=Value(0))
    return queryset.annotate(search_rank=rank).order_by(F("search_rank").desc(), F("created_at").desc(), F("id").desc())
