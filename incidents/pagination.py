"""The incident list's pages: counted only as far as anyone pages.

``Paginator`` counts every matching row on every page view (``SELECT COUNT(*)``): at 100,000
incidents that one statement took longer than the rest of the list page (see
``benchmarks/results/incidents.json``). Nobody pages through 40 pages of 25, so the count stops
a few pages past the one asked for: the heading says "1,000+ open incidents" and the pager
"Page 3 of 40+" beyond that, exact figures below it. Filters narrow the list; the CSV export
has every row.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator

# Count at least this many rows, and always this many pages past the one asked for.
COUNT_AT_LEAST = 1_000
PAGES_AHEAD = 10


class CappedPaginator(Paginator):
    """A ``Paginator`` whose ``count`` stops at ``limit`` + 1 rows (one bounded COUNT over a
    LIMIT subquery); ``exact`` says whether it is the whole count."""

    def __init__(self, object_list: Any, per_page: int, *, asked: Any = None) -> None:
        super().__init__(object_list, per_page)
        try:
            number = max(1, int(asked))
        except (TypeError, ValueError):
            number = 1
        self.limit = max(COUNT_AT_LEAST, (number + PAGES_AHEAD) * per_page)

    @cached_property
    def count(self) -> int:
        # Only the ids: the page's own annotations (its tags) are not computed for every row.
        # Unordered: the planner may stop at the first ``limit`` + 1 matches in any index.
        return min(self.object_list.values("pk").order_by()[: self.limit + 1].count(), self.limit + 1)

    @property
    def exact(self) -> bool:
        return self.count <= self.limit

    @property
    def shown_count(self) -> int:
        """What to print before "+" when not ``exact``: the limit."""
        return self.count if self.exact else self.limit

    @property
    def shown_pages(self) -> int:
        """What to print before "+" when not ``exact``: the pages known to be full."""
        return self.num_pages if self.exact else self.limit // self.per_page
