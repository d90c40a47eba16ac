"""Discover every route from the resolver, make it concrete for one incident of the matrix's world,
and send it one request as one principal. Used by tests/test_authorization_matrix.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from .authz_world import Case, World

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SITUATIONS = ("U_in", "U_out", "R_in", "R_out")

_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name"
    pattern: str  # the route as written, prefixes joined

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")


def routes() -> list[Route]:
    """Every named route but the Django admin's (which has its own, staff-only, permission system:
    the matrix checks its front door, ``admin:index``, and the admin tests the rest)."""
    found = []
    for pattern, name in _walk(get_resolver()):
        if pattern.startswith("admin/") and name != "admin:index":
            continue
        found.append(Route(name, pattern))
    return found


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or namespace
            yield from _walk(entry, pattern, inner or "")
        elif isinstance(entry, URLPattern):
            yield pattern, f"{namespace}:{entry.name}" if namespace else (entry.name or "")


# Which of a case's objects a route's "pk" names (DRF routers call every object "pk").
_PK_OF = {
    "task": "task",
    "evidence": "evidence",
    "indicator": "indicator",
    "vendor-access": "access",
    "vendor-question": "question",
    "vendor": "involvement",
    "scope": "scope",
    "timeline": "event",
    "notice": "notice",
}
_PARAMS = {
    "task_id": "task",
    "evidence_id": "evidence",
    "indicator_id": "indicator",
    "involvement_id": "involvement",
    "access_id": "access",
    "question_id": "question",
    "scope_id": "scope",
    "event_id": "event",
    "import_id": "import",
    "notice_id": "notice",
    "user_id": "member",
    "alert_id": "alert",
    "invitation_id": "invitation",
}
_TOKENS = {
    "invitation-accept": "invitation_token",
    "notifications:acknowledge-link": "ack_token",
}
_FIXED = {
    "regime": "gdpr-art33",
    "stage": "notification",
    "number": "1",
    "fmt": "md",
    "alert_format": "splunk",
}
_FORMATS = {"notice_format": "md", "csv_or_json": "csv", "export_format": "csv"}


def url_of(route: Route, case: Case, world: World) -> str:
    def value(match: re.Match) -> str:
        name = match.group("name") or match.group("rname")
        converter = match.group("converter")
        if name == "reference":
            return case.ids["reference"]
        if name == "pk":
            if route.name == "api:vendor-detail":
                return world.globals["vendor"]
            for marker, key in _PK_OF.items():
                if f"-{marker}" in route.name:
                    return case.ids[key]
            raise AssertionError(f"no object for pk in {route.name}")
        if name in _PARAMS:
            return case.ids[_PARAMS[name]]
        if name == "vendor_id":
            return world.globals["vendor"]
        if name == "channel_id":
            return world.globals["channel"]
        if name == "token":
            if route.name == "api:ingest":
                return world.globals["ingest_token"]
            return case.ids[_TOKENS[route.name]]
        if name == "format":
            return _FORMATS.get(converter or "", "csv")
        if name in _FIXED:
            return _FIXED[name]
        raise AssertionError(f"no value for <{name}> in {route.name} ({route.pattern})")

    url = _PARAM.sub(value, route.pattern)
    url = url.replace("^", "").replace("$", "").replace("\\", "")
    if re.search(r"[()\[\]?*+|]", url):
        raise AssertionError(f"could not make {route.pattern} concrete: {url}")
    return "/" + url


class Principal:
    """Who sends the request: nobody, a signed-in person, or an API key."""

    def __init__(self, world: World, column: str, side: str) -> None:
        self.column = column
        self.client = Client(raise_request_exception=False)
        self.user = None
        self.headers: dict[str, str] = {}
        if column.startswith("key:"):
            self.headers = {"HTTP_AUTHORIZATION": f"Api-Key {world.keys[f'{column}_{side}']}"}
        elif column != "anon":
            self.user = world.users[f"{column}_{side}"]
            self.client.force_login(self.user)

    def send(self, method: str, url: str, api: bool) -> int:
        """One request, its writes rolled back so the next request finds the world unchanged."""
        kwargs = dict(self.headers)
        if method != "GET":
            kwargs.update({"data": "{}", "content_type": "application/json"} if api else {"data": {}})
        if method in ("PUT", "PATCH", "DELETE") and not api:
            kwargs.update({"data": "", "content_type": "application/x-www-form-urlencoded"})
        before = self._session_key()
        with transaction.atomic():
            response = getattr(self.client, method.lower())(url, **kwargs)
            transaction.set_rollback(True)
        if self.user is not None and self._session_key() != before:
            # The request ended or cycled the session, and its new row was rolled back: sign in again.
            self.client.force_login(self.user)
        return response.status_code

    def _session_key(self) -> str:
        cookie = self.client.cookies.get("sessionid")
        return cookie.value if cookie is not None else ""
