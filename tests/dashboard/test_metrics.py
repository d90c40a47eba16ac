"""Every figure of the dashboard on the hand-built world of ``conftest.py``, read through the
metrics API (the figures the page shows too: ``test_dashboard_page.py``). Each expected value is
worked out by hand in the comment beside it."""

from __future__ import annotations

import pytest

from .conftest import MARCH

pytestmark = pytest.mark.django_db
URL = "/api/v1/metrics/"


def figures(client, params=MARCH) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def kpi(body: dict, key: str) -> dict:
    found = next(item for item in body["kpis"] if item["key"] == key)
    return {name: found[name] for name in ("mean", "median", "count", "of")}


# --- Response KPIs (the executive: A, B, C, D are the period's incidents; R is restricted) --
def test_time_to_acknowledge(world, login, executive):
    # A 10 min, B 20 min, C 60 min; D never acknowledged: mean 30 min, median 20 min, 3 of 4.
    assert kpi(figures(login(executive)), "mtta") == {"mean": 1800, "median": 1200, "count": 3, "of": 4}


def test_time_to_detect_needs_attacker_activity_on_the_timeline(world, login, executive):
    # A 2 h, B 4 h (attacker event → detected_at); C and D have no attacker activity.
    assert kpi(figures(login(executive)), "mttd") == {"mean": 10800, "median": 10800, "count": 2, "of": 4}


def test_time_to_contain_prefers_the_timeline_and_skips_backwards_spans(world, login, executive):
    # A 1 h (contained_at, no event); B 3 h (its containment event wins over contained_at's 5 h);
    # D's containment event is an hour before detection: no span. Mean and median 2 h.
    assert kpi(figures(login(executive)), "mttc") == {"mean": 7200, "median": 7200, "count": 2, "of": 4}


def test_time_to_resolve_reads_the_last_recovery_event(world, login, executive):
    # B: detection 10:00 → last recovery event 22:00 = 12 h (not resolved_at's 10 h);
    # C: detection event 09:30 → resolved_at 11:00 = 1 h 30 min. Mean = median = 6 h 45 min.
    assert kpi(figures(login(executive)), "mttr") == {"mean": 24300, "median": 24300, "count": 2, "of": 4}


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(world, login, lead):
    # The lead also sees R (acknowledged +100 min): 10, 20, 60, 100 min → median (20+60)/2 = 40 min,
    # mean 47.5 min; R's attacker activity 1 h → MTTD 1 h, 2 h, 4 h: median 2 h, mean 2 h 20 min.
    body = figures(login(lead))
    assert kpi(body, "mtta") == {"mean": 2850, "median": 2400, "count": 4, "of": 5}
    assert kpi(body, "mttd") == {"mean": 8400, "median": 7200, "count": 3, "of": 5}


def test_kpi_trend_per_week(world, login, executive):
    mtta = next(item for item in figures(login(executive))["kpis"] if item["key"] == "mtta")
    assert mtta["trend"] == [
        {"bucket": "2026-02-23", "mean": None, "median": None, "count": 0},
        {"bucket": "2026-03-02", "mean": 900, "median": 900, "count": 2},  # A 10 min, B 20 min
        {"bucket": "2026-03-09", "mean": 3600, "median": 3600, "count": 1},  # C 60 min; D none
        {"bucket": "2026-03-16", "mean": None, "median": None, "count": 0},
        {"bucket": "2026-03-23", "mean": None, "median": None, "count": 0},
        {"bucket": "2026-03-30", "mean": None, "median": None, "count": 0},
    ]


def test_a_long_period_trends_by_month(world, login, executive):
    body = figures(login(executive), {"from": "2026-01-01", "to": "2026-06-30"})
    mtta = next(item for item in body["kpis"] if item["key"] == "mtta")
    assert body["period"]["bucket"] == "month"
    assert [(p["bucket"], p["mean"], p["count"]) for p in mtta["trend"]] == [
        ("2026-01-01", None, 0),
        ("2026-02-01", 300, 1),  # E: 5 min
        ("2026-03-01", 1800, 3),
        ("2026-04-01", None, 0),
        ("2026-05-01", None, 0),
        ("2026-06-01", None, 0),
    ]


# --- Open incidents, new and closed ----------------------------------------------------------
def test_open_incidents_by_severity_and_status(world, login, executive):
    # Open now: A critical contained, B high recovered, D medium new, E medium new (C is closed).
    assert figures(login(executive))["open_incidents"] == {
        "total": 4,
        "by_severity": [
            {"severity": "critical", "label": "Critical", "count": 1},
            {"severity": "high", "label": "High", "count": 1},
            {"severity": "medium", "label": "Medium", "count": 2},
        ],
        "by_status": [
            {"status": "new", "label": "New", "count": 2},
            {"status": "contained", "label": "Contained", "count": 1},
            {"status": "recovered", "label": "Recovered", "count": 1},
        ],
    }


def test_new_and_closed_per_week(world, login, executive):
    assert figures(login(executive))["flow"] == [
        {"bucket": "2026-02-23", "opened": 0, "closed": 0},
        {"bucket": "2026-03-02", "opened": 2, "closed": 0},  # A, B
        {"bucket": "2026-03-09", "opened": 2, "closed": 1},  # C, D; C closed
        {"bucket": "2026-03-16", "opened": 0, "closed": 0},
        {"bucket": "2026-03-23", "opened": 0, "closed": 0},
        {"bucket": "2026-03-30", "opened": 0, "closed": 0},
    ]


# --- Deadlines -------------------------------------------------------------------------------
def test_sla_breaches_in_the_period(world, login, executive):
    breaches = figures(login(executive))["sla_breaches"]
    assert breaches["total"] == 1  # A's; R's is restricted, E's was in February
    assert [(item["reference"], item["kind"], item["breached_at"]) for item in breaches["items"]] == [
        (world.a.reference, "acknowledge", "2026-03-02T10:05:00+00:00")
    ]


def test_regulatory_clocks_due_within_72_hours_or_missed(world, login, executive):
    clocks = figures(login(executive))["regulatory_clocks"]
    # B's missed (due 5 h ago), A's due in 10 h; C's (100 h) is later, D's stopped, R's restricted.
    assert clocks["total"] == 2
    assert [(item["reference"], item["missed"]) for item in clocks["items"]] == [
        (world.b.reference, True),
        (world.a.reference, False),
    ]


# --- Vendors ---------------------------------------------------------------------------------
def test_vendor_exposure(world, login, executive):
    vendors = figures(login(executive))["vendors"]
    # Open incidents A, B, D, E involve Northwind (critical), Contoso (high), Fabrikam (low, on E).
    assert vendors["in_open_incidents_by_tier"] == [
        {"tier": "critical", "label": "Critical", "count": 1},
        {"tier": "high", "label": "High", "count": 1},
        {"tier": "low", "label": "Low", "count": 1},
    ]
    # A's API token is still active; B's account was revoked; R's key is restricted.
    assert vendors["open_access"]["total"] == 1
    assert [(i["reference"], i["vendor"], i["identifier"]) for i in vendors["open_access"]["items"]] == [
        (world.a.reference, "Northwind", "svc-nw-ci")
    ]
    # The period's incidents per vendor: Northwind A and B, Contoso B, Fabrikam C (E is February's).
    assert [(v["vendor"], v["incidents"], [p["count"] for p in v["trend"]]) for v in vendors["top"]] == [
        ("Northwind", 2, [0, 2, 0, 0, 0, 0]),
        ("Contoso", 1, [0, 1, 0, 0, 0, 0]),
        ("Fabrikam", 1, [0, 0, 1, 0, 0, 0]),
    ]


# --- Alerts, categories, techniques ----------------------------------------------------------
def test_alert_intake_and_share_promoted(world, login, executive):
    alerts = figures(login(executive))["alerts"]
    # March: a1 promoted (A), a2 linked (B), a3 in triage, a5 ignored; a4 is R's (restricted).
    assert (alerts["received"], alerts["promoted"], alerts["promoted_share"]) == (4, 2, 0.5)
    assert [(p["bucket"], p["received"], p["promoted"]) for p in alerts["trend"]][:3] == [
        ("2026-02-23", 0, 0),
        ("2026-03-02", 3, 2),
        ("2026-03-09", 1, 0),
    ]


def test_top_categories_and_techniques(world, login, executive):
    body = figures(login(executive))
    assert body["top_categories"] == [
        {"category": "malware", "label": "Malware", "count": 2},
        {"category": "phishing", "label": "Phishing", "count": 2},
    ]
    assert body["top_techniques"] == [
        {"technique": "T1566", "name": "Phishing", "count": 2},
        {"technique": "T1078", "name": "Valid Accounts", "count": 1},
        {"technique": "T1204", "name": "User Execution", "count": 1},
    ]


# --- Visibility ------------------------------------------------------------------------------
def test_a_restricted_incident_counts_only_for_those_who_may_see_it(world, login, lead, executive, outsider, admin):
    def summary(user) -> tuple:
        body = figures(login(user))
        return (
            body["incidents_in_period"],
            body["open_incidents"]["total"],
            body["sla_breaches"]["total"],
            body["regulatory_clocks"]["total"],
            body["vendors"]["open_access"]["total"],
            body["alerts"]["received"],
            [t["technique"] for t in body["top_techniques"]],
        )

    hidden = (4, 4, 1, 2, 1, 4, ["T1566", "T1078", "T1204"])
    shown = (5, 5, 2, 3, 2, 5, ["T1566", "T1078", "T1204", "T1486"])
    assert summary(executive) == hidden
    assert summary(outsider) == hidden
    assert summary(lead) == shown  # a member
    assert summary(admin) == shown  # sees everything


# --- A period without data -------------------------------------------------------------------
def test_a_period_with_no_data(world, login, executive):
    body = figures(login(executive), {"from": "2025-01-06", "to": "2025-01-12"})
    assert body["incidents_in_period"] == 0
    assert [kpi(body, key) for key in ("mttd", "mtta", "mttc", "mttr")] == [
        {"mean": None, "median": None, "count": 0, "of": 0}
    ] * 4
    assert body["flow"] == [{"bucket": "2025-01-06", "opened": 0, "closed": 0}]
    assert body["sla_breaches"] == {"total": 0, "items": []}
    assert (body["alerts"]["received"], body["alerts"]["promoted_share"]) == (0, None)
    assert (body["top_categories"], body["top_techniques"], body["vendors"]["top"]) == ([], [], [])
    # What stands now does not depend on the period.
    assert body["open_incidents"]["total"] == 4
    assert body["regulatory_clocks"]["total"] == 2


def test_nothing_at_all(login, executive):
    body = figures(login(executive))
    assert body["open_incidents"] == {"total": 0, "by_severity": [], "by_status": []}
    assert body["incidents_in_period"] == 0
    assert body["regulatory_clocks"] == {"total": 0, "items": []}
    assert body["vendors"] == {"in_open_incidents_by_tier": [], "open_access": {"total": 0, "items": []}, "top": []}
