"""The executive dashboard (``/dashboard/``): where the organisation stands over a period, for
everyone signed in but vendor collaborators (404). Thin: parse the period, read the figures
(``incidents.metrics``), draw them (``incidents.charts``), render."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.models import Role, User

from . import charts, metrics


def may_see_dashboard(user: User) -> bool:
    """Everyone signed in but vendor collaborators (an outside party sees one incident, never
    the organisation's figures)."""
    return user.is_active and (user.is_superuser or user.role != Role.VENDOR)


class PeriodForm(forms.Form):
    """``?period=7d|30d|90d|quarter|custom`` (default 30d); custom takes ``from`` and ``to``."""

    period = forms.ChoiceField(choices=metrics.PERIOD_CHOICES, required=False)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data: Any, *args: Any, **kwargs: Any) -> None:
        # The query string says from/to; "from" cannot be a Python field name.
        data = {"period": data.get("period", ""), "start": data.get("from", ""), "end": data.get("to", "")}
        super().__init__(data, *args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("period") != "custom":
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if start is None:
            self.add_error("start", "Choose the first day of the period.")
        if end is None:
            self.add_error("end", "Choose the last day of the period.")
        if start and end:
            for field_name, message in period_errors(start, end).items():
                self.add_error(field_name, message)
        return cleaned

    def chosen_period(self) -> metrics.Period:
        """The period asked for; the last 30 days when the form is invalid or empty."""
        if not self.is_valid() or not self.cleaned_data.get("period"):
            return metrics.period_named("30d")
        if self.cleaned_data["period"] == "custom":
            return metrics.period_between(self.cleaned_data["start"], self.cleaned_data["end"])
        return metrics.period_named(self.cleaned_data["period"])


def period_errors(start: date, end: date) -> dict[str, str]:
    """Why ``start``..``end`` is not a period (the page's and the API's messages, keyed by the
    page's field names); empty when it is one."""
    if start > end:
        return {"end": "The end of the period must not be before its start."}
    if metrics.period_between(start, end).end - metrics.period_between(start, end).start > metrics.MAX_PERIOD:
        return {"end": f"A period spans at most {metrics.MAX_PERIOD.days} days."}
    return {}


def dashboard_charts(data: metrics.DashboardMetrics) -> dict[str, charts.Chart]:
    """One chart per section that has data (none for an empty one: the page says so instead)."""
    labels = [charts.bucket_label(row["bucket"], data.period.bucket) for row in data.flow]
    drawn: dict[str, charts.Chart] = {}
    if data.open_total:
        drawn["open_severity"] = charts.donut(
            "Open incidents by severity",
            [(row["label"], row["count"]) for row in data.open_by_severity],
            charts.SEVERITY_COLOURS,
        )
        drawn["open_status"] = charts.bars(
            "Open incidents by status",
            [row["label"] for row in data.open_by_status],
            [("Open incidents", [row["count"] for row in data.open_by_status])],
        )
    if data.has_flow:
        drawn["flow"] = charts.bars(
            f"New and closed incidents per {data.period.bucket}",
            labels,
            [("New", [row["opened"] for row in data.flow]), ("Closed", [row["closed"] for row in data.flow])],
        )
    if data.kpis_known:
        drawn["kpis"] = charts.lines(
            f"Median response times per {data.period.bucket} (hours)",
            labels,
            [
                (kpi.label, [_hours(point["median"]) for point in kpi.trend])
                for kpi in data.kpis
                if kpi.count  # a KPI nobody has is not drawn as an empty line
            ],
            unit="h",
        )
    if data.vendors_by_tier:
        drawn["vendor_tiers"] = charts.donut(
            "Vendors in open incidents by tier",
            [(row["label"], row["count"]) for row in data.vendors_by_tier],
            charts.TIER_COLOURS,
        )
    if data.vendor_trend:
        drawn["vendor_trend"] = charts.bars(
            f"Incidents per vendor per {data.period.bucket} (top {len(data.vendor_trend)})",
            labels,
            [(row["vendor"], [point["count"] for point in row["trend"]]) for row in data.vendor_trend],
        )
    if data.alerts_received:
        drawn["alerts"] = charts.bars(
            f"Alerts received per {data.period.bucket}",
            labels,
            [
                ("Received", [row["received"] for row in data.alerts]),
                ("Became incident work", [row["promoted"] for row in data.alerts]),
            ],
        )
    if data.top_categories:
        drawn["categories"] = charts.bars(
            "Top categories",
            [row["label"] for row in data.top_categories],
            [("Incidents", [row["count"] for row in data.top_categories])],
            horizontal=True,
        )
    if data.top_techniques:
        drawn["techniques"] = charts.bars(
            "Top ATT&CK techniques",
            [f"{row['technique']} {row['name']}".strip() for row in data.top_techniques],
            [("Incidents", [row["count"] for row in data.top_techniques])],
            horizontal=True,
        )
    return drawn


def human_duration(seconds: int | None) -> str:
    """1800 → "30 min", 93600 → "1 d 2 h"; "no data" for none."""
    if seconds is None:
        return "no data"
    minutes = round(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes and not days else "",
    ]
    return " ".join(part for part in parts if part) or "0 min"


def kpi_rows(data: metrics.DashboardMetrics, labels: list[str]) -> list[dict[str, Any]]:
    """The KPI table: each KPI with its figures spelled out, and its trend beside the labels."""
    return [
        {
            "kpi": kpi,
            "mean": human_duration(kpi.mean),
            "median": human_duration(kpi.median),
            "trend": [
                {
                    "label": label,
                    "mean": human_duration(point["mean"]),
                    "median": human_duration(point["median"]),
                    "count": point["count"],
                }
                for label, point in zip(labels, kpi.trend, strict=True)
            ],
        }
        for kpi in data.kpis
    ]


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


@login_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    """``/dashboard/?period=…``: a bad period is a form error on the page (the last 30 days are
    shown meanwhile), never a 500. 15 queries whatever the data (tests/dashboard)."""
    if not may_see_dashboard(request.user):
        raise Http404
    form = PeriodForm(request.GET)
    period = form.chosen_period()
    data = metrics.dashboard_metrics(viewer=request.user, period=period)
    labels = [charts.bucket_label(row["bucket"], period.bucket) for row in data.flow]
    context = {
        "form": form,
        "period": period,
        "period_label": dict(metrics.PERIOD_CHOICES).get(period.name, "Custom"),
        "data": data,
        "charts": dashboard_charts(data),
        "kpi_rows": kpi_rows(data, labels),
        "flow_rows": [{"label": label, **row} for label, row in zip(labels, data.flow, strict=True)],
        "alert_rows": [{"label": label, **row} for label, row in zip(labels, data.alerts, strict=True)],
        "bucket_labels": labels,
    }
    return render(request, "incidents/dashboard.html", context)
