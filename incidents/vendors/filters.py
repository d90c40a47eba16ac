"""The registry's search and filters, shared by the browser list and the API."""

from __future__ import annotations

import contextlib
from typing import Any

import django_filters
import idna
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet

from ..indicators.normalize import normalize
from ..models import VendorTier


class VendorFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", max_length=200, label="Search", help_text="Part of the name or of one of its domains."
    )
    tier = django_filters.MultipleChoiceFilter(choices=VendorTier.choices, help_text="One or more tiers.")
    # A choice, not a BooleanFilter: that one reads "maybe" as "not given" instead of refusing it.
    involved_open = django_filters.ChoiceFilter(
        choices=[("true", "Yes"), ("false", "No")],
        method="involved",
        label="Involved in open incidents",
        help_text="true: involved in an open incident you can see; false: in none.",
    )

    def __init__(self, *args: Any, viewer: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.viewer = viewer

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = " ".join(value.replace("\x00", "").split())
        if not text:
            return queryset
        condition = Q(name__icontains=text) | Q(domains__icontains=text.lower())
        # "bücher.example" finds the stored "xn--bcher-kva.example", "evil[.]example" "evil.example".
        with contextlib.suppress(ValidationError):
            condition |= Q(domains__icontains=normalize("domain", text))
        # A part of a name ("bücher") as its IDNA label ("xn--bcher-kva").
        with contextlib.suppress(idna.IDNAError, UnicodeError):
            condition |= Q(domains__icontains=idna.encode(text, uts46=True, std3_rules=False).decode("ascii").lower())
        return queryset.filter(condition)

    def involved(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        from .selectors import open_involvements  # selectors import this module

        involved = Exists(open_involvements(self.viewer).filter(vendor=OuterRef("pk")))
        return queryset.filter(involved if value == "true" else ~involved)
