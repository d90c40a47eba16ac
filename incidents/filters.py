"""The incident list's filters, shared by the browser list and the API."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from .models import Category, Incident, Severity, Status, works_on


class IncidentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search", max_length=200)
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    lead = django_filters.CharFilter(field_name="lead__username", label="Lead (username)", max_length=150)
    mine = django_filters.BooleanFilter(method="filter_mine", label="Mine (lead or member)")
    restricted = django_filters.BooleanFilter()
    ordering = django_filters.OrderingFilter(
        fields=(
            ("created_at", "created"),
            ("updated_at", "updated"),
            ("detected_at", "detected"),
            ("reference", "reference"),
        ),
    )

    class Meta:
        model = Incident
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, viewer: Any = None, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        self.viewer = viewer if viewer is not None else getattr(self.request, "user", None)

    def filter_search(self, queryset: QuerySet[Incident], name: str, value: str) -> QuerySet[Incident]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(reference__iexact=value) | Q(title__icontains=value) | Q(summary__icontains=value))

    def filter_mine(self, queryset: QuerySet[Incident], name: str, value: bool | None) -> QuerySet[Incident]:
        if value is None or self.viewer is None:
            return queryset
        mine = works_on(self.viewer)
        return queryset.filter(mine) if value else queryset.exclude(mine)
