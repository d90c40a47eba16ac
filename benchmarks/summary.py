"""The last part of ``make bench``: one short Markdown page over every result file.

    python benchmarks/summary.py          # writes benchmarks/results/SUMMARY.md and prints it

Reads the default-size result of each benchmark (``benchmarks/results/<name>.json``), and for
each gives the commit and the load average it was measured at, its headline figures as ratios to
the floor measured in the same run (``/healthz`` for requests, raw psycopg or ``sha256sum`` for
writes), and every target with its limit, the measured value and whether it passed. A file that
is missing or that an older script wrote is reported as such, not guessed at. The exit status
is 0: the benchmarks' own exit statuses say whether a target was missed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SUMMARY = RESULTS / "SUMMARY.md"


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _targets(result: dict[str, Any]) -> list[str]:
    """Every target as a table row, whatever shape the script wrote them in."""
    targets = result.get("targets") or []
    if isinstance(targets, dict):  # {"name": pass}
        targets = [{"name": name, "pass": passed} for name, passed in targets.items()]
    rows = ["| target | limit | measured | |", "|---|---|---|---|"]
    for target in targets:
        name = target.get("name") or " ".join(
            str(part) for part in (target.get("endpoint"), target.get("metric")) if part
        )
        comparison = target.get("comparison", "")
        limit = f"{comparison} {_num(target.get('limit'), 2)}" if "limit" in target else ""
        measured = (
            _num(target.get("measured", target.get("actual")), 2) if "measured" in target or "actual" in target else ""
        )
        rows.append(f"| {name} | {limit} | {measured} | {'pass' if target.get('pass') else '**missed**'} |")
    return rows if targets else []


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(_num(cell) if not isinstance(cell, str) else cell for cell in row) + " |" for row in rows
    ]
    return lines


def incidents(result: dict[str, Any]) -> list[str]:
    rows = [
        (
            key,
            endpoint.get("median_ms"),
            endpoint.get("p95_ms"),
            endpoint.get("ratio_to_healthz"),
            endpoint.get("queries"),
        )
        for key, endpoint in (result.get("endpoints") or {}).items()
    ]
    lines = _table(("request", "median ms", "p95 ms", "ratio to /healthz", "queries"), rows)
    slowest = max(
        ((key, e) for key, e in (result.get("endpoints") or {}).items() if "breakdown" in e),
        key=lambda item: item[1].get("median_ms") or 0,
        default=None,
    )
    if slowest is not None:
        parts = slowest[1]["breakdown"].get("parts_ms", {})
        split = ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(parts.items(), key=lambda kv: -kv[1]))
        lines += ["", f"Slowest page read: `{slowest[0]}`; in-process, ms: {split}."]
    return lines


def dashboard(result: dict[str, Any]) -> list[str]:
    rows = [
        (key, r.get("median_ms"), r.get("p95_ms"), r.get("ratio_to_healthz"), r.get("queries"))
        for key, r in (result.get("requests") or {}).items()
    ]
    return _table(("request", "median ms (worker)", "p95 ms", "ratio to /healthz", "queries"), rows)


def load(result: dict[str, Any]) -> list[str]:
    users = _dig(result, "load", "users") or {}
    lines = [
        "Users: "
        + ", ".join(f"{n} {kind}" for kind, n in users.items())
        + f"; think times (s) {_dig(result, 'load', 'think_time_s')}.",
        "",
    ]
    for number, run in enumerate(result.get("runs") or [], start=1):
        server = run.get("server_side") or {}
        rows = [
            (name, c.get("requests"), c.get("rps"), c.get("p50_ms"), c.get("p95_ms"), c.get("p99_ms"),
             _dig(server, name, "p50_ms"), c.get("failures"))
            for name, c in (run.get("stats") or {}).items()
        ]  # fmt: skip
        header = ("class", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "p50 in the worker", "errors")
        lines += [f"Run {number} ({_num(run.get('wall_s'))} s):", "", *_table(header, rows), ""]
    memory = result.get("memory_mb") or {}
    for moment in ("after_run1", "after_run2"):
        for group, processes in (memory.get(moment) or {}).items():
            largest = max((p.get("rss_mb") or 0 for p in processes.values()), default=None)
            lines.append(f"- {moment.replace('_', ' ').replace('run', 'run ')}: largest {group} RSS {_num(largest)} MB")
    return lines


def evidence(result: dict[str, Any]) -> list[str]:
    return [
        f"- 1 GiB upload: {_num(_dig(result, 'upload', 'median_mb_per_s'))} MB/s, "
        f"`sha256sum` {_num(_dig(result, 'sha256sum', 'mb_per_s'))} MB/s: ratio "
        f"{_num(result.get('upload_to_sha256sum_ratio'), 3)}; "
        f"peak RSS growth {_num(result.get('peak_rss_growth_mb'))} MB",
    ]


def timeline(result: dict[str, Any]) -> list[str]:
    ratios = result.get("ratios") or {}
    return [f"- {name}: {_num(value, 2)}" for name, value in ratios.items()]


def intake(result: dict[str, Any]) -> list[str]:
    one = _dig(result, "batch_new_alerts", "one_client") or {}
    floor = _dig(result, "floor", "executemany_upsert") or {}
    lines = [
        f"- batches of new alerts, one client: {_num(one.get('alerts_per_s'))} alerts/s; raw psycopg executemany "
        f"upsert of the same rows: {_num(floor.get('alerts_per_s'))} alerts/s",
    ]
    lines += [f"- {name}: {_num(value, 3)}" for name, value in (result.get("ratios") or {}).items()]
    return lines


def escalation(result: dict[str, Any]) -> list[str]:
    due = result.get("due_to_received_s") or {}
    return [
        f"- due → webhook received: p50 {_num(due.get('p50'), 2)} s, p95 {_num(due.get('p95'), 2)} s, "
        f"max {_num(due.get('max'), 2)} s; {_num(_dig(result, 'delivery', 'deliveries_per_s'))} deliveries/s",
    ]


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any]], list[str]]]] = [
    ("incidents", "Incident reads at 100,000 incidents", incidents),
    ("dashboard", "Executive dashboard at 100,000 incidents", dashboard),
    ("load", "HTTP load and memory", load),
    ("evidence", "Evidence upload", evidence),
    ("timeline", "Attack timeline", timeline),
    ("intake", "SIEM alert intake", intake),
    ("escalation", "Escalation", escalation),
]


def render() -> str:
    lines = [
        "# Benchmark summary",
        "",
        "Written by `benchmarks/summary.py` at the end of `make bench` from `benchmarks/results/*.json`;",
        "`benchmarks/README.md` explains each figure. Ratios compare with a floor measured in the same run.",
        "",
    ]
    for name, title, section in SECTIONS:
        path = RESULTS / f"{name}.json"
        lines += [f"## {title} (`results/{name}.json`)", ""]
        if not path.exists():
            lines += ["Not measured: no result file.", ""]
            continue
        result = json.loads(path.read_text())
        git = result.get("git") or {}
        load_avg = _dig(result, "machine", "loadavg_1m_start") or _dig(result, "machine", "loadavg_1m", "start")
        met = result.get("all_targets_met")
        lines.append(
            f"Commit {git.get('commit')}{' (dirty)' if git.get('dirty') else ''}, load average at start "
            f"{_num(load_avg, 2)}; all targets met: {_num(met) if met is not None else '—'}."
        )
        lines += ["", *section(result), ""]
        lines += [*_targets(result), ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    SUMMARY.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
