"""The incident list's filters, search and sort keys, shared by the browser list and the API.

Both apply ``IncidentFilter`` to ``selectors.incidents_visible_to(viewer)``: the browser through
``selectors.incident_filter`` (after ``list_page_params`` adds the page's defaults), the API
through DRF's filter backend. Only the defaults differ: the page shows open incidents unless
asked for closed ones; the API lists every status unless ``include_closed=false``, as it always
has, so integrations that poll it see an incident close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Case, F, JSONField, OrderBy, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Length, Substr
from django.http import QueryDict
from drf_spectacular.utils import extend_schema_field

from .models import OPEN_STATUSES, Category, Incident, Severity, Status, Tag, works_on
from .search import incident_search

# --- Sort keys ---------------------------------------------------------------------------------
# Severity and status are text columns; these CASE expressions give them their order. Migration
# 0005_search indexes exactly these expressions (with created_at and id, the tie-breakers), so a
# sorted page is read in index order: change one, change the other (tests/incidents/test_list.py
# checks on PostgreSQL that the index is used).
SEVERITY_LEVEL = Case(
    When(severity="low", then=Value(1)),
    When(severity="medium", then=Value(2)),
    When(severity="high", then=Value(3)),
    When(severity="critical", then=Value(4)),
)
# NIST SP 800-61 phase order.
STATUS_PHASE = Case(
    When(status="new", then=Value(0)),
    When(status="triage", then=Value(1)),
    When(status="investigating", then=Value(2)),
    When(status="contained", then=Value(3)),
    When(status="eradicated", then=Value(4)),
    When(status="recovered", then=Value(5)),
    When(status="closed", then=Value(6)),
)
# IR-YYYY-NNNN: the year, then the number. Numbers grow past four digits after 9,999 in a year,
# and within a year a longer number is a larger one, so (year, length, text) is numeric order.
REFERENCE_ORDER = (Substr("reference", 4, 4), Length("reference"), F("reference"))

# Each key ascending, as (expression, descending) pairs; "-key" reverses every pair, so a column's
# two directions are exact mirror images and one index serves both (read backwards). Ties are
# broken by creation time, then id, so pages never overlap.
SORTS: dict[str, tuple[tuple[Any, bool], ...]] = {
    # Ascending severity is low first: "-severity" is critical first.
    "severity": ((SEVERITY_LEVEL, False), (F("created_at"), False), (F("id"), False)),
    "status": ((STATUS_PHASE, False), (F("created_at"), False), (F("id"), False)),
    "updated": ((F("updated_at"), False), (F("id"), False)),
    # Ascending age is youngest first (the default list); "-age" is oldest first.
    "age": ((F("created_at"), True), (F("id"), True)),
    "reference": tuple((expression, False) for expression in REFERENCE_ORDER),
    # Kept from before "age" for API clients: "created" is "-age".
    "created": ((F("created_at"), False), (F("id"), False)),
    "detected": ((F("detected_at"), False), (F("id"), False)),
}
ORDERING_CHOICES = [
    ("severity", "Severity, low first"),
    ("-severity", "Severity, critical first"),
    ("status", "Status, in NIST phase order (new first)"),
    ("-status", "Status, closed first"),
    ("updated", "Last update, least recent first"),
    ("-updated", "Last update, most recent first"),
    ("age", "Age, youngest first"),
    ("-age", "Age, oldest first"),
    ("reference", "Reference, lowest first"),
    ("-reference", "Reference, highest first"),
    ("created", "Created, oldest first"),
    ("-created", "Created, newest first"),
    ("detected", "Detected, earliest first"),
    ("-detected", "Detected, latest first"),
]
# What a list without ``ordering`` is in: newest first (Incident.Meta.ordering), or by relevance
# when searching.
DEFAULT_ORDERING = "age"


def sort_order(ordering: str) -> list[OrderBy]:
    """ORDER BY for one of ``ORDERING_CHOICES``."""
    reverse = ordering.startswith("-")
    keys = SORTS[ordering.lstrip("-")]
    return [OrderBy(expression, descending=descending != reverse) for expression, descending in keys]


# --- Tags --------------------------------------------------------------------------------------
class TagNamesField(forms.Field):
    """Every ``tag`` value of the query string, normalized as tags are stored
    (``services.tags_normalize``: lower case, inner spaces collapsed, duplicates dropped)."""

    widget = forms.MultipleHiddenInput  # reads every value: ?tag=a&tag=b

    def to_python(self, value: Any) -> list[str]:
        if value in (None, "", []):
            return []
        # Late import: services import the selectors, which import this module.
        from .services import tags_normalize

        try:
            return tags_normalize([value] if isinstance(value, str) else list(value))
        except ValidationError as exc:
            # The messages quote what was sent; as params, a "%" in it is text, not a format
            # (django-filter and DRF %-format every message: a raw one was a 500).
            raise forms.ValidationError(
                [forms.ValidationError("%(problem)s", params={"problem": m}) for m in exc.message_dict["tags"]]
            ) from None


INCLUDE_CLOSED_HELP = (
    "false: open incidents only. The API includes closed ones unless told otherwise; the browser "
    "list shows open ones unless told otherwise or given a status."
)
TAG_FILTER_HELP = "Repeatable (tag=a&tag=b): incidents carrying every tag given."


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "maxLength": 50}, "maxItems": 20, "description": TAG_FILTER_HELP}
)
class TagFilter(django_filters.Filter):
    """Incidents carrying *every* tag given (AND): each tag picked narrows the list."""

    field_class = TagNamesField

    def filter(self, queryset: QuerySet[Incident], value: list[str]) -> QuerySet[Incident]:
        tagged = Incident.tags.through.objects
        for name in value or []:
            # A semi-join per tag: no duplicate rows, whatever the number of tags.
            queryset = queryset.filter(pk__in=tagged.filter(tag__name=name).values("incident_id"))
        return queryset


# --- The FilterSet -----------------------------------------------------------------------------
class IncidentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        max_length=200,
        help_text="Reference (42, 2026-0042, IR-2026-0042), title, summary, findings and tags; "
        "ranked by relevance unless ordering is given.",
    )
    # distinct=False: the incident's own column, no join to duplicate a row. django-filter's default
    # (SELECT DISTINCT) sorted every matching row, all columns, before the LIMIT: 60 ms for
    # ?severity=critical&severity=high at 100,000 incidents instead of an index scan's 1 ms.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    include_closed = django_filters.BooleanFilter(
        method="filter_include_closed",
        label="Include closed incidents",
        help_text=INCLUDE_CLOSED_HELP,
    )
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices, distinct=False)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    tag = TagFilter(label="Tag", help_text=TAG_FILTER_HELP)
    lead = django_filters.CharFilter(field_name="lead__username", label="Lead (username)", max_length=150)
    mine = django_filters.BooleanFilter(method="filter_mine", label="Mine (lead or member)")
    restricted = django_filters.BooleanFilter()
    # Last: it replaces the order the search may have set.
    ordering = django_filters.ChoiceFilter(
        choices=ORDERING_CHOICES,
        method="filter_ordering",
        label="Sort by",
        help_text="One key; '-' reverses it. Ties: creation time, then id, in the same direction.",
    )

    class Meta:
        model = Incident
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, viewer: Any = None, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        self.viewer = viewer if viewer is not None else getattr(self.request, "user", None)

    def filter_search(self, queryset: QuerySet[Incident], name: str, value: str) -> QuerySet[Incident]:
        # An explicit ordering wins over relevance (and then the rank is not computed at all).
        ranked = not self.form.cleaned_data.get("ordering")
        return incident_search(queryset, value, viewer=self.viewer, ranked=ranked)

    @extend_schema_field({"type": "boolean", "description": INCLUDE_CLOSED_HELP})
    def filter_include_closed(self, queryset: QuerySet[Incident], name: str, value: bool | None) -> QuerySet[Incident]:
        return queryset.filter(status__in=OPEN_STATUSES) if value is False else queryset

    @extend_schema_field({"type": "boolean", "description": "true: incidents you lead or are a member of."})
    def filter_mine(self, queryset: QuerySet[Incident], name: str, value: bool | None) -> QuerySet[Incident]:
        if value is None or self.viewer is None:
            return queryset
        mine = works_on(self.viewer)
        return queryset.filter(mine) if value else queryset.exclude(mine)

    def filter_ordering(self, queryset: QuerySet[Incident], name: str, value: str) -> QuerySet[Incident]:
        return queryset.order_by(*sort_order(value))


# --- The browser list --------------------------------------------------------------------------
def list_page_params(params: QueryDict) -> QueryDict:
    """The browser list's filters: the request's, plus the page's default of open incidents only,
    unless the request includes closed ones (``include_closed``) or picks statuses itself."""
    params = params.copy()
    if "include_closed" not in params and not any(params.getlist("status")):
        params["include_closed"] = "false"
    return params


# The columns a click sorts, and the direction of the first click: what needs attention first
# (critical, the earliest phase, the latest change, the newest case). A second click reverses it.
SORT_COLUMNS = {
    "reference": "-reference",
    "severity": "-severity",
    "status": "status",
    "updated": "-updated",
    "age": "age",
}


@dataclass(frozen=True)
class SortLink:
    query: str  # the list's query string sorted by this column; the page starts again at 1
    aria_sort: str  # "ascending" or "descending" on the column the list is sorted by, else ""


def sort_links(params: QueryDict, ordering: str) -> dict[str, SortLink]:
    """A link for each sortable column header, keeping the other filters. ``ordering`` is the
    list's current one ("" when it is ranked by relevance)."""
    links = {}
    for column, first in SORT_COLUMNS.items():
        current = ordering.lstrip("-") == column
        query = params.copy()
        query.pop("page", None)
        query["ordering"] = (column if ordering.startswith("-") else f"-{column}") if current else first
        aria = ("descending" if ordering.startswith("-") else "ascending") if current else ""
        links[column] = SortLink(query=query.urlencode(), aria_sort=aria)
    return links


def query_without(params: QueryDict, name: str, value: str | None = None) -> str:
    """``params`` as a query string without ``page`` and without ``name`` (only its ``value``
    when given): the link that removes one filter chip."""
    query = params.copy()
    query.pop("page", None)
    if value is None:
        query.pop(name, None)
    else:
        query.setlist(name, [v for v in query.getlist(name) if " ".join(v.split()).lower() != value])
    return query.urlencode()


def short_age(delta: timedelta) -> str:
    """A compact age for the list's column: "45 min", "5 h", "3 d"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


class TagNames(Subquery):
    """An incident's tag names as a JSON list, computed in the list page's own query: for the
    page's rows only (PostgreSQL evaluates it after LIMIT), and no query of its own (a prefetch
    would be one more round trip on the most viewed page)."""

    output_field = JSONField()
    template = "(SELECT json_group_array(tag.name) FROM (%(subquery)s) tag)"

    def __init__(self) -> None:
        super().__init__(Tag.objects.filter(incidents=OuterRef("pk")).order_by().values("name"))

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, tuple]:
        template = "(SELECT COALESCE(jsonb_agg(tag.name), '[]'::jsonb) FROM (%(subquery)s) tag)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


@dataclass(frozen=True)
class ListRow:
    incident: Incident
    age: str  # short_age of its creation, for the Age column
    tags: list[str]  # its tag names, alphabetical


def list_rows(incidents: Any, now: Any) -> list[ListRow]:
    """The page's rows; ``incidents`` annotated with ``tag_names`` (``TagNames``)."""
    return [
        ListRow(incident=incident, age=short_age(now - incident.created_at), tags=sorted(incident.tag_names))
        for incident in incidents
    ]


def list_controls(params: QueryDict, incident_filter: IncidentFilter) -> dict[str, Any]:
    """What the list page shows around its table, from the request's own ``params`` (not the
    defaults: links keep what the user chose): the sortable headers, whether the list is ranked
    by relevance, the open/closed switch and the chosen tags with the links that remove them."""
    cleaned = incident_filter.form.cleaned_data if hasattr(incident_filter.form, "cleaned_data") else {}
    explicit = cleaned.get("ordering") or ""
    ranked = bool((cleaned.get("q") or "").strip()) and not explicit
    closed_shown = cleaned.get("include_closed") is not False
    switch = params.copy()
    switch.pop("page", None)
    switch["include_closed"] = "false" if closed_shown else "true"
    base = params.copy()
    base.pop("page", None)
    return {
        "ordering": explicit,
        "sort_links": sort_links(params, "" if ranked else explicit or DEFAULT_ORDERING),
        "ranked": ranked,
        "relevance_query": query_without(params, "ordering"),
        "closed_shown": closed_shown,
        "closed_switch_query": switch.urlencode(),
        "chosen_tags": [(name, query_without(params, "tag", name)) for name in cleaned.get("tag") or []],
        "tag_query": base.urlencode(),
    }
