"""benchmarks/load.py: its pure helpers (the user mix, reading locust's statistics, the growth
rule). The load run itself needs the 100k data set and the whole stack: `make bench` runs it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# Loaded by path: benchmarks/ is not a package. Appended, not prepended: its incidents.py must
# not shadow the app; load.py's own imports (harness, generate, escalation) are found there.
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))
_spec = importlib.util.spec_from_file_location("bench_load", BENCHMARKS / "load.py")
load = importlib.util.module_from_spec(_spec)
sys.modules["bench_load"] = load
_spec.loader.exec_module(load)

# The header locust 2.47 writes, and two rows as it writes them (percentiles rounded).
STATS_CSV = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
    "99.99%,100%\n"
    "GET,list_page,1200,0,41,52.3,12.1,480.2,30500,20.01,0.0,41,50,58,63,80,110,150,190,400,480,480\n"
    "POST,alerts_post,300,2,95,120.7,30.5,900.0,9000,5.0,0.03,95,110,120,130,180,240,380,520,900,900,900\n"
    ",Aggregated,1500,2,48,65.9,12.1,900.0,26200,25.01,0.03,48,60,70,76,100,140,200,300,600,900,900\n"
)


def test_user_mix_is_30_15_5_at_50_users() -> None:
    assert load.user_mix(50) == {"responders": 30, "api_readers": 15, "siems": 5}


def test_user_mix_keeps_one_of_each_at_small_sizes() -> None:
    assert load.user_mix(3) == {"responders": 1, "api_readers": 1, "siems": 1}
    assert load.user_mix(10) == {"responders": 6, "api_readers": 3, "siems": 1}


def test_read_stats_groups_by_class_with_the_aggregate_as_all(tmp_path: Path) -> None:
    path = tmp_path / "run1_stats.csv"
    path.write_text(STATS_CSV)

    stats = load.read_stats(path)

    assert set(stats) == {"list_page", "alerts_post", "all"}
    assert stats["list_page"] == {
        "requests": 1200,
        "failures": 0,
        "rps": 20.01,
        "p50_ms": 41.0,
        "p95_ms": 110.0,
        "p99_ms": 190.0,
        "avg_ms": 52.3,
        "max_ms": 480.2,
    }
    assert stats["alerts_post"]["failures"] == 2
    assert stats["all"]["requests"] == 1500
    assert stats["all"]["p95_ms"] == 140.0


def test_read_stats_reads_na_percentiles_as_none(tmp_path: Path) -> None:
    path = tmp_path / "run1_stats.csv"
    header = STATS_CSV.splitlines()[0]
    path.write_text(header + "\nGET,detail_api,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n")

    assert load.read_stats(path)["detail_api"]["p95_ms"] is None


def test_growth_allows_five_percent_and_not_more() -> None:
    assert load.growth_ok(100_000, 100_000)
    assert load.growth_ok(100_000, 90_000)
    assert load.growth_ok(100_000, 105_000)
    assert not load.growth_ok(100_000, 105_001)


def test_request_class_names_each_locust_class_from_the_access_log() -> None:
    assert load.request_class("GET", "/incidents/", "page=2&ordering=-severity") == "list_page"
    assert load.request_class("GET", "/incidents/", "") == "list_page"
    assert load.request_class("GET", "/incidents/", "q=northwind") == "search_page"
    assert load.request_class("GET", "/incidents/IR-2026-0412/", "") == "detail_page"
    assert load.request_class("GET", "/api/v1/incidents/", "page_size=50&mine=true") == "list_api"
    assert load.request_class("GET", "/api/v1/incidents/IRR-2025-0007/", "") == "detail_api"
    assert load.request_class("POST", "/api/v1/alerts/", "") == "alerts_post"
    assert load.request_class("GET", "/healthz", "") == "other"
