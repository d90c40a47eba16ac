"""config/api.py: page numbers and sizes far past anything real are a 4xx, never a 500.

SQLite and PostgreSQL both take OFFSET as a 64-bit integer, so these run on both (the PostgreSQL
run of the suite covers the other).
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

LIST = "/api/v1/incidents/"
INVALID_PAGE = {"detail": "Invalid page."}


@pytest.fixture
def reader(api, admin: User) -> APIClient:
    client = api("incidents:read", "incidents:write", user=admin)
    for title in ("Phishing wave", "Lost laptop", "Leaked token"):
        assert client.post(LIST, {"title": title, "severity": "low"}, format="json").status_code == 201
    return client


@pytest.mark.parametrize(
    "query",
    [
        "page=9223372036854775807",  # the largest 64-bit integer: the offset overflowed (a 500)
        "page=9223372036854775808",  # past it
        "page=184467440737095516160000",
        "page=20000002",  # the first page whose offset (at 50 a page) passes one billion
        "page=2&page_size=9223372036854775807",
    ],
)
def test_a_page_past_any_real_data_is_a_404(reader, query):
    response = reader.get(f"{LIST}?{query}")
    assert response.status_code == 404
    assert response.json() == INVALID_PAGE


@pytest.mark.parametrize("page", ["9" * 5000, "-9223372036854775808", "0", "1e3"])
def test_a_page_that_is_not_a_whole_number_from_1_is_a_400(reader, page):
    response = reader.get(LIST, {"page": page})
    assert response.status_code == 400
    assert response.json() == {"page": ["A page number is a whole number from 1."]}


@pytest.mark.parametrize("page_size", ["9223372036854775807", "9" * 5000, "-1", "0", "ten"])
def test_an_outlandish_page_size_falls_back_to_a_bounded_one(reader, page_size):
    response = reader.get(LIST, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
    assert response.json()["next"] is None
