"""Walk every URL pattern as an outsider and make sure none shows a restricted incident.

New routes are covered automatically: any ``<reference>`` is filled with the restricted
incident's reference, any other integer with the id of one of its tasks/findings. Every route
is tried with GET and POST, in the browser session and with an API key holding every scope.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from incidents import services

pytestmark = pytest.mark.django_db

PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


def _patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def _concrete(route: str, values: dict[str, str]) -> str | None:
    def fill(match: re.Match) -> str:
        name = match.group("name") or match.group("rname")
        return values.get(name, values["_int"])

    url = PARAM.sub(fill, route)
    # Strip regex anchors and optional format suffixes used by DRF routers.
    url = url.replace("^", "").replace("$", "").replace("\\", "")
    url = re.sub(r"\.\(\?P<format>[^)]*\)/?", "", url)
    if re.search(r"[()\[\]?*+]", url):
        return None
    return "/" + url


def _walk(client, user, incident, api_key) -> list[tuple[str, str, int, list[str]]]:
    """Every route, by GET and POST, by session and by API key: what exposed ``incident`` to ``user``."""
    task = services.task_add(incident=incident, actor=incident.lead, title="Rotate the contractor token")
    finding = services.finding_add(incident=incident, author=incident.lead, body="Token svc-nw-ci was used")
    values = {"reference": incident.reference, "pk": str(task.pk), "task_id": str(task.pk), "_int": str(finding.pk)}
    secrets = [incident.title, "Secret details", task.title, finding.body]

    key = api_key("incidents:read", "incidents:write", "alerts:write", user=user)
    routes = sorted({url for route in _patterns(get_resolver()) if (url := _concrete(route, values))})
    assert any(incident.reference in url for url in routes), "the walk must reach incident routes"

    exposed = []
    for url in routes:
        for method in ("get", "post"):
            for headers in ({}, {"HTTP_AUTHORIZATION": f"Api-Key {key}"}):
                client.force_login(user)  # a walked logout route must not end the session
                response = getattr(client, method)(url, **headers)
                body = response.content.decode(errors="replace")
                shown = [s for s in secrets if s in body]
                if (response.status_code < 300 and incident.reference in url) or shown:
                    exposed.append((method.upper(), url, response.status_code, shown))
    return exposed


def test_no_route_shows_a_restricted_incident_to_an_outsider(client, outsider, restricted_incident, api_key):
    assert _walk(client, outsider, restricted_incident, api_key) == []
    restricted_incident.refresh_from_db()
    assert restricted_incident.version == 1  # no write went through either
    assert restricted_incident.findings.count() == 1


def test_the_walk_sees_what_a_member_sees(client, responder, restricted_incident, api_key):
    # Control: the same walk as a member must find the incident, or the walk proves nothing.
    exposed = {(method, url) for method, url, _, _ in _walk(client, responder, restricted_incident, api_key)}
    ref = restricted_incident.reference
    assert ("GET", f"/incidents/{ref}/") in exposed
    assert ("GET", f"/api/v1/incidents/{ref}/") in exposed
