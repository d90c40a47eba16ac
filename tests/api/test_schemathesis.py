"""Every operation in the API's own OpenAPI schema, fuzzed with schemathesis against the WSGI app.

The schema is fetched from /api/v1/schema/ through the WSGI app, so an endpoint added to the
router is tested here with no edit. Checks: no 5xx, and every response matches the schema (body
and content type). Requests carry a real API key with every scope, owned by an administrator, so
they reach the views and can see and change everything; a few incidents, tasks and findings are
seeded and generated path parameters are sometimes swapped for theirs, so operations on one
object hit real rows and not only 404s.

Hypothesis runs derandomized (the same cases on every run, so CI failures reproduce) and bounded
(``MAX_EXAMPLES`` per operation plus schemathesis's deterministic coverage cases).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from accounts.models import Scope, User
from config.wsgi import application

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)

# Filled per test by ``seeded`` (hooks run inside the test, after the fixture): path parameters
# the generator may use instead of its own invented ones.
REAL_PATH_PARAMETERS: dict[str, list[Any]] = {}


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> st.SearchStrategy:
    # None for operations without path parameters (and in some negative cases).
    if not isinstance(path_parameters, dict) or "reference" not in path_parameters:
        return st.just(path_parameters)
    choices = [path_parameters]
    for reference in REAL_PATH_PARAMETERS.get("reference", []):
        choices.append({**path_parameters, "reference": reference})
        # Tasks and findings belong to an incident: a real id only means anything under it.
        for pk in REAL_PATH_PARAMETERS.get("id", []) if "id" in path_parameters else []:
            choices.append({**path_parameters, "reference": reference, "id": pk})
    return st.sampled_from(choices)


@pytest.fixture
def api_headers(api_key, admin: User) -> dict[str, str]:
    raw = api_key(*Scope.values, user=admin, name="schemathesis")
    return {"Authorization": f"Api-Key {raw}"}


@pytest.fixture
def seeded(api_headers: dict[str, str]) -> Iterator[None]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=api_headers["Authorization"])
    references, ids = [], []
    for title, severity in (("Phishing wave against finance", "medium"), ("Ransomware on file server", "critical")):
        incident = client.post("/api/v1/incidents/", {"title": title, "severity": severity}, format="json")
        assert incident.status_code == 201, incident.content
        reference = incident.json()["reference"]
        references.append(reference)
        task = client.post(f"/api/v1/incidents/{reference}/tasks/", {"title": "Collect logs"}, format="json")
        finding = client.post(f"/api/v1/incidents/{reference}/findings/", {"body": "MFA fatigue"}, format="json")
        event = client.post(
            f"/api/v1/incidents/{reference}/timeline/",
            {"occurred_at": "2026-03-02T10:00:00Z", "kind": "attacker", "title": "VPN login", "technique": "T1078"},
            format="json",
        )
        assert task.status_code == finding.status_code == event.status_code == 201, (task.content, finding.content)
        ids += [task.json()["id"], finding.json()["id"], event.json()["id"]]
    REAL_PATH_PARAMETERS.update(reference=references, id=ids)
    yield
    REAL_PATH_PARAMETERS.clear()


@pytest.fixture
def fixed_random() -> Iterator[None]:
    # Besides Hypothesis's own (derandomized) choices, schemathesis draws some from the global
    # ``random`` module, whose state depends on what earlier tests did (the demo seeding, Faker):
    # without this the same operation could get other cases in the full suite than alone.
    state = random.getstate()
    random.seed(20260101)
    yield
    random.setstate(state)


# Transactional, not the rollback-based ``db``: schemathesis calls the real WSGI handler (not
# Django's test client), whose request signals run close_old_connections, which drops a
# connection left outside autocommit, such as one inside the test's transaction (on PostgreSQL
# every request then failed with "the connection is closed"). Requests also run in autocommit and
# fire on_commit callbacks, as deployed.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The fixtures are per test function on purpose: each operation's test gets a fresh database
    # (flushed after it) with the key and the seeded rows, shared by that test's examples.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_api(case: schemathesis.Case, api_headers: dict[str, str], seeded: None, fixed_random: None) -> None:
    case.call_and_validate(headers=api_headers, checks=CHECKS)
