"""Markdown to HTML that is safe to put in a page: rendered, then sanitized with nh3 (ammonia).

Raw HTML in the source is not trusted: scripts, event handlers, ``javascript:`` links and
styles are removed by the allow-list below.
"""

from __future__ import annotations

from functools import lru_cache

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
EXTENSIONS = ["fenced_code", "tables", "sane_lists"]


# Rendering is a pure function of the text, and the same texts are drawn again and again (an
# incident page shows its summary and every finding on each view, ~0.65 ms per finding). Each
# process keeps the last CACHED renders of texts up to CACHED_LENGTH characters: at most ~8 MB.
CACHED = 1024
CACHED_LENGTH = 4_000


def render_markdown(text: str) -> SafeString:
    text = text or ""
    html = _cached(text) if len(text) <= CACHED_LENGTH else _render(text)
    return mark_safe(html)  # noqa: S308 - sanitized by nh3 (_render)


def _render(text: str) -> str:
    html = md.markdown(text, extensions=EXTENSIONS, output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_cached = lru_cache(maxsize=CACHED)(_render)
