"""Error pages (403, 404, 500) and what an htmx request meets when the session has expired
(incidents/middleware.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.template.loader import render_to_string
from django.urls import reverse

from incidents.models import Finding

pytestmark = pytest.mark.django_db

MIDDLEWARE = "incidents.middleware.LoginRedirectMiddleware"


@pytest.fixture
def production_errors(settings) -> None:
    settings.DEBUG = False  # the pages people see, not Django's debug pages


class TestNotFound:
    def test_an_invisible_incident_is_the_same_page_as_a_missing_one(
        self, production_errors, login, outsider, restricted_incident
    ):
        client = login(outsider)
        ref = restricted_incident.reference
        missing = "IR-2020-9999"
        for name, params in [("detail", {}), ("edit", {}), ("live", {"since": "1.0.0"})]:
            hidden = client.get(reverse(f"incidents:{name}", args=[ref]), params)
            absent = client.get(reverse(f"incidents:{name}", args=[missing]), params)
            assert (hidden.status_code, absent.status_code) == (404, 404), name
            assert hidden.content == absent.content, name  # byte for byte: a 404 tells nothing
        # Writes too (the htmx add forms answer the same page).
        url = "incidents:finding-add"
        hidden = client.post(reverse(url, args=[ref]), {"body": "x"})
        absent = client.post(reverse(url, args=[missing]), {"body": "x"})
        assert hidden.status_code == absent.status_code == 404
        assert hidden.content == absent.content
        assert Finding.objects.count() == 0

    def test_the_404_page_is_in_the_apps_layout_with_a_way_back(self, production_errors, login, outsider):
        body = login(outsider).get("/incidents/IR-2020-9999/").content.decode()
        assert '<header class="topbar">' in body and "My work" in body
        assert "Not found" in body
        assert 'href="/"' in body and 'href="/incidents/"' in body
        # Nothing that differs between two renders of the same page.
        assert "csrfmiddlewaretoken" not in body and "X-CSRFToken" not in body
        assert "IR-2020-9999" not in body

    def test_an_unknown_url_uses_the_same_page(self, production_errors, login, outsider):
        response = login(outsider).get("/no/such/page/")
        assert response.status_code == 404
        assert b"There is nothing here, or nothing you have access to." in response.content


class TestForbiddenAndServerError:
    def test_the_403_page_says_why_and_offers_a_way_back(self, production_errors, login, executive, incident):
        response = login(executive).post(reverse("incidents:finding-add", args=[incident.reference]), {"body": "x"})
        assert response.status_code == 403
        body = response.content.decode()
        assert '<header class="topbar">' in body
        assert "You may not add to this incident." in body
        assert 'href="/"' in body

    def test_the_500_page_is_standalone(self, production_errors, client, lead, monkeypatch):
        def broken(**kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr("incidents.selectors.my_open_incidents", broken)
        client.force_login(lead)
        client.raise_request_exception = False
        response = client.get(reverse("incidents:home"))
        assert response.status_code == 500
        body = response.content.decode()
        assert "Something went wrong on our side" in body
        assert 'href="/"' in body
        assert "boom" not in body
        # It renders without a request, a user or the database (Django's server_error view).
        assert render_to_string("500.html") == body


@pytest.fixture
def with_middleware(settings) -> None:
    """What config/settings.py is asked to add (see docs/architecture.md, Live updates)."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


def expire(client) -> None:
    # What an expired or revoked session looks like to the server: its row is gone.
    Session.objects.all().delete()


class TestExpiredSession:
    def test_an_htmx_post_is_sent_to_log_in_and_back_to_the_case(self, with_middleware, client, lead, incident):
        client.force_login(lead)
        expire(client)
        page = f"http://testserver{incident.get_absolute_url()}"
        response = client.post(
            reverse("incidents:finding-add", args=[incident.reference]),
            {"body": "Typed while the session expired"},
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=page,
        )
        assert response.status_code == 200
        assert response["HX-Redirect"] == f"/accounts/login/?next=%2Fincidents%2F{incident.reference}%2F"
        assert response.content == b""  # never the login page inside the panel
        assert Finding.objects.count() == 0

    def test_a_poll_gets_the_same_answer(self, with_middleware, client, lead, incident):
        client.force_login(lead)
        expire(client)
        response = client.get(
            reverse("incidents:live", args=[incident.reference]),
            {"since": "1.0.0"},
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=f"http://testserver{incident.get_absolute_url()}?tab=x",
        )
        assert response["HX-Redirect"] == f"/accounts/login/?next=%2Fincidents%2F{incident.reference}%2F%3Ftab%3Dx"

    @pytest.mark.parametrize("current", [None, "https://evil.example/incidents/", "/accounts/login/", "javascript:x"])
    def test_without_a_page_of_ours_to_return_to_it_is_the_login_page_alone(
        self, with_middleware, client, incident, current
    ):
        headers = {"HTTP_HX_REQUEST": "true"}
        if current:
            headers["HTTP_HX_CURRENT_URL"] = current
        response = client.post(reverse("incidents:finding-add", args=[incident.reference]), {"body": "x"}, **headers)
        assert response["HX-Redirect"] == "/accounts/login/"

    def test_a_plain_form_post_returns_to_the_page_it_was_on(self, with_middleware, client, incident):
        # Django would send it back to /transition/ after logging in: a 405 for a GET.
        response = client.post(
            reverse("incidents:transition", args=[incident.reference]),
            {"to": "triage", "version": "1"},
            HTTP_REFERER=f"http://testserver{incident.get_absolute_url()}",
        )
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next=%2Fincidents%2F{incident.reference}%2F"

    def test_a_plain_get_keeps_djangos_redirect(self, with_middleware, client, incident):
        response = client.get(incident.get_absolute_url())
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next=/incidents/{incident.reference}/"

    def test_other_redirects_are_left_alone(self, with_middleware, login, lead, incident):
        # A plain post that saves redirects to the incident: not a login redirect.
        response = login(lead).post(reverse("incidents:finding-add", args=[incident.reference]), {"body": "Saved"})
        assert (response.status_code, response["Location"]) == (302, incident.get_absolute_url())

    def test_after_logging_in_the_person_is_back_on_the_case(self, with_middleware, client, lead, incident):
        response = client.post(
            reverse("incidents:finding-add", args=[incident.reference]),
            {"body": "x"},
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=f"http://testserver{incident.get_absolute_url()}",
        )
        login_page = client.get(response["HX-Redirect"])
        assert re.search(rf'name="next" value="/incidents/{incident.reference}/"', login_page.content.decode())
        logged_in = client.post(
            response["HX-Redirect"],
            {"username": lead.username, "password": "correct-horse-battery"},
        )
        assert logged_in["Location"] == incident.get_absolute_url()
