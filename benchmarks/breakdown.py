"""Where a request's time goes, in-process: SQL, ORM instantiation, serialization, template rendering.

``measure(client, path, headers)`` sends the request through Django's test client ``repeats``
times with timers wrapped around a few framework functions (patched in place for the run and
restored afterwards). Each timer counts its *own* time: what nested timers measured is taken
out, so the parts add up to the whole request:

- ``sql``: executing statements and receiving their rows (``connection.execute_wrapper``);
- ``orm``: ``QuerySet._fetch_all`` without the SQL inside it: turning rows into model instances
  or values, ``select_related`` joins, prefetching's bookkeeping;
- ``serialize``: DRF serializers' ``data`` (``to_representation`` of every field);
- ``json``: DRF's renderer turning that data into bytes;
- ``template``: Django templates rendering, without the queries and serializers run inside them;
- ``other``: the rest: middleware (sessions, authentication, CSRF, the second factor), URL
  resolving, the view's own code, building the response.

A second pass runs the same requests under ``cProfile`` and keeps the functions with the most
own time, to say what inside a part costs. The timers cost about a microsecond per call; the
profiler costs far more, which is why its pass is separate and gives no milliseconds of its own.
"""

from __future__ import annotations

import cProfile
import functools
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PARTS = ("sql", "orm", "serialize", "json", "template", "other")


class _Clock:
    """Own time per part: each timed call subtracts its nested timed calls."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(PARTS, 0.0)
        self.calls = dict.fromkeys(PARTS, 0)
        self._children: list[float] = []

    def run(self, part: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        self._children.append(0.0)
        try:
            return call()
        finally:
            elapsed = time.perf_counter() - start
            self.totals[part] += elapsed - self._children.pop()
            self.calls[part] += 1
            if self._children:
                self._children[-1] += elapsed

    def wrap(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            return self.run(part, lambda: function(*args, **kwargs))

        return timed


def _targets() -> list[tuple[str, type, str]]:
    from django.db.models.query import QuerySet
    from django.template.backends.django import Template
    from rest_framework.renderers import JSONRenderer
    from rest_framework.serializers import ListSerializer, Serializer

    return [
        ("orm", QuerySet, "_fetch_all"),
        ("serialize", Serializer, "data"),
        ("serialize", ListSerializer, "data"),
        ("json", JSONRenderer, "render"),
        ("template", Template, "render"),
    ]


@contextmanager
def _timers(clock: _Clock) -> Iterator[None]:
    from django.db import connection

    saved: list[tuple[type, str, Any]] = []
    for part, owner, name in _targets():
        original = owner.__dict__[name]
        saved.append((owner, name, original))
        if isinstance(original, property):
            setattr(owner, name, property(clock.wrap(part, original.fget)))
        else:
            setattr(owner, name, clock.wrap(part, original))

    def sql(execute: Callable[..., Any], statement: str, params: Any, many: bool, context: Any) -> Any:
        return clock.run("sql", lambda: execute(statement, params, many, context))

    try:
        with connection.execute_wrapper(sql):
            yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _get(client: Any, path: str, headers: dict[str, str]) -> None:
    response = client.get(path, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"breakdown: GET {path} answered {response.status_code}")
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)


def measure(client: Any, path: str, headers: dict[str, str], *, repeats: int = 20, top: int = 12) -> dict[str, Any]:
    """Time ``GET path`` ``repeats`` times in-process (after one untimed request) and split each
    request's time into ``PARTS``; returns the median request, the mean of each part in ms, the
    statements per request and the ``top`` functions by own time under cProfile."""
    _get(client, path, headers)
    totals: list[float] = []
    parts = dict.fromkeys(PARTS, 0.0)
    statements = 0
    for _ in range(repeats):
        clock = _Clock()
        with _timers(clock):
            start = time.perf_counter()
            _get(client, path, headers)
            elapsed = time.perf_counter() - start
        totals.append(elapsed * 1000)
        timed = sum(clock.totals[part] for part in PARTS if part != "other")
        clock.totals["other"] = elapsed - timed
        for part in PARTS:
            parts[part] += clock.totals[part] * 1000 / repeats
        statements += clock.calls["sql"]
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(repeats):
        _get(client, path, headers)
    profile.disable()
    stats = pstats.Stats(profile)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    whole = sum(row[2] for row in stats.stats.values()) or 1  # type: ignore[attr-defined]
    return {
        "repeats": repeats,
        "median_ms": round(statistics.median(totals), 2),
        "mean_ms": round(statistics.fmean(totals), 2),
        "parts_ms": {part: round(value, 2) for part, value in parts.items()},
        "queries": statements // repeats,
        "profile_top_own_time": [
            {
                "function": f"{filename.rsplit('site-packages/', 1)[-1]}:{line}({name})",
                "share": round(values[2] / whole, 3),
                "calls_per_request": values[1] // repeats,
            }
            for (filename, line, name), values in rows
        ],
    }
