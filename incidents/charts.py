"""The dashboard's charts: pygal renders SVG on the server, without its JavaScript (``js=[]``),
embedded as ``<img src="data:image/svg+xml;base64,…" alt="…">``.

An image document is its own document: the inline ``<style>`` pygal writes into the SVG is not
subject to the page's CSP (which allows ``img-src data:``), and nothing in it can run. Every
chart has alt text stating its figures, and the page prints the same figures in a table beside
it (the accessible and printable form)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import pygal
from pygal.style import Style

_PALETTE = (
    "#2563eb",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#0ea5e9",
    "#84cc16",
    "#ec4899",
    "#64748b",
    "#14b8a6",
)


def _style(colors: tuple[str, ...] = _PALETTE) -> Style:
    """The palette of static/css/app.css; severity and tier colours follow the badges."""
    return Style(
        background="transparent",
        plot_background="transparent",
        foreground="#1f2937",
        foreground_strong="#111827",
        foreground_subtle="#6b7280",
        opacity="1",
        opacity_hover="1",
        font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        label_font_size=13,
        major_label_font_size=13,
        value_font_size=13,
        legend_font_size=13,
        title_font_size=15,
        colors=colors,
    )


_STYLE = _style()
SEVERITY_COLOURS = {"critical": "#b91c1c", "high": "#ea580c", "medium": "#ca8a04", "low": "#2563eb"}
TIER_COLOURS = {"critical": "#b91c1c", "high": "#ea580c", "medium": "#ca8a04", "low": "#2563eb"}


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


@dataclass(frozen=True)
class Chart:
    src: str  # data: URI of the SVG
    alt: str


def _config(**options) -> dict:
    return {
        "style": options.pop("style", _STYLE),
        "js": [],  # no script: the SVG is an image, and the CSP allows none
        "disable_xml_declaration": True,
        "width": options.pop("width", 640),
        "height": options.pop("height", 320),
        "legend_at_bottom": True,
        "print_values": False,
        "show_minor_x_labels": True,
        "truncate_legend": 40,
        "margin": 12,
        **options,
    }


def _image(chart: pygal.graph.graph.Graph, alt: str) -> Chart:
    # pygal writes its config as an inline <script> even with js=[]; an image never runs it, but
    # the SVG carries nothing that is not drawing.
    svg = _SCRIPT.sub("", chart.render(is_unicode=True)).encode("utf-8")
    return Chart(src="data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"), alt=alt)


def _listing(pairs: list[tuple[str, object]]) -> str:
    return "; ".join(f"{label} {value}" for label, value in pairs)


def bucket_label(day: date, bucket: str) -> str:
    return day.strftime("%b %Y") if bucket == "month" else f"Week of {day:%d %b}"


def donut(title: str, items: list[tuple[str, int]], colours: dict[str, str] | None = None) -> Chart:
    """A donut of ``items`` (label, count)."""
    return _donut(title, tuple(items), tuple((colours or {}).items()))


def bars(title: str, labels: list[str], series: list[tuple[str, list[int]]], *, horizontal: bool = False) -> Chart:
    """Bars of one or more series over ``labels``."""
    return _bars(title, tuple(labels), tuple((name, tuple(values)) for name, values in series), horizontal)


def lines(title: str, labels: list[str], series: list[tuple[str, list[float | None]]], *, unit: str) -> Chart:
    """Lines of one or more series over ``labels`` (None: no value in that bucket, a gap)."""
    return _lines(title, tuple(labels), tuple((name, tuple(values)) for name, values in series), unit)


# Rendering is most of the page's time (pygal takes 5-10 ms a chart) and the same figures are
# drawn again on every visit until they change: the last charts drawn are kept, by their figures.
@lru_cache(maxsize=128)
def _donut(title: str, items: tuple[tuple[str, int], ...], colour_items: tuple[tuple[str, str], ...]) -> Chart:
    colours = dict(colour_items)
    palette = tuple(colours.get(label.lower(), c) for (label, _n), c in zip(items, _PALETTE, strict=False))
    style = _style(palette) if colours else _STYLE
    chart = pygal.Pie(**_config(inner_radius=0.5, height=280, style=style, title=title))
    for label, count in items:
        chart.add(f"{label} ({count})", count)
    return _image(chart, f"{title}: {_listing(items)}.")


@lru_cache(maxsize=128)
def _bars(
    title: str, labels: tuple[str, ...], series: tuple[tuple[str, tuple[int, ...]], ...], horizontal: bool
) -> Chart:
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(240, 34 * len(labels) + 90) if horizontal else 320
    chart = kind(**_config(height=height, title=title, x_label_rotation=0 if horizontal else 30))
    chart.x_labels = list(labels)
    # Counts: whole-number ticks (pygal would mark 0.2, 0.4… on a scale up to 2), at most ~8.
    top = max((v for _name, values in series for v in values), default=0)
    step = max(1, -(-top // 8))
    chart.y_labels = list(range(0, top + step, step))
    for name, values in series:
        chart.add(name, list(values))
    if len(series) == 1:
        alt = _listing(list(zip(labels, series[0][1], strict=True)))
    else:
        alt = " ".join(f"{name}: {_listing(list(zip(labels, values, strict=True)))}." for name, values in series)
    return _image(chart, f"{title}. {alt}".rstrip(".") + ".")


@lru_cache(maxsize=128)
def _lines(
    title: str, labels: tuple[str, ...], series: tuple[tuple[str, tuple[float | None, ...]], ...], unit: str
) -> Chart:
    chart = pygal.Line(**_config(title=title, x_label_rotation=30, allow_interruptions=True, dots_size=4))
    chart.x_labels = list(labels)
    for name, values in series:
        chart.add(name, list(values))

    def shown(value: float | None) -> str:
        return "none" if value is None else f"{value:g} {unit}"

    alt = " ".join(
        f"{name}: {'; '.join(f'{label} {shown(v)}' for label, v in zip(labels, values, strict=True))}."
        for name, values in series
    )
    return _image(chart, f"{title}. {alt}")
