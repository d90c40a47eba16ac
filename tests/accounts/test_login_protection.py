"""Login protection (accounts/throttles.py, django-axes): lockout per account and per address,
its cool-off, reset on success, the 429 page; and what the lockout leaves alone (force_login).

Settings under test (config/settings.py): AXES_FAILURE_LIMIT 5, AXES_COOLOFF_MINUTES 15,
AXES_LOCKOUT_PARAMETERS username and ip_address, each a criterion of its own.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.throttles import client_ip

from ..factories import UserFactory

LOGIN = "/accounts/login/"
RIGHT = "correct-horse-battery"
OFFICE = "203.0.113.7"
HOME = "198.51.100.20"


@pytest.fixture
def lena(db) -> User:
    return UserFactory(username="lena")


@pytest.fixture
def ravi(db) -> User:
    return UserFactory(username="ravi")


def attempt(username: str, password: str, address: str) -> tuple[int, bool, object]:
    """One login through the real form from ``address`` in a fresh browser:
    (status, logged in?, response)."""
    browser = Client()
    response = browser.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)
    return response.status_code, SESSION_KEY in browser.session, response


def fail(username: str, address: str, times: int) -> list[int]:
    """``times`` wrong passwords; the statuses: 200 (the form again, with its error) or 429."""
    statuses = []
    for _ in range(times):
        status, logged_in, _ = attempt(username, "wrong-password", address)
        assert not logged_in
        statuses.append(status)
    return statuses


def test_the_right_password_works_before_any_failure(lena):
    assert attempt("lena", RIGHT, OFFICE)[:2] == (302, True)


def test_five_failures_lock_the_account_even_from_another_address(lena):
    # The fifth failure is the one that locks: it is answered with the lockout page.
    assert fail("lena", OFFICE, times=5) == [200, 200, 200, 200, 429]
    status, logged_in, response = attempt("lena", RIGHT, OFFICE)
    assert (status, logged_in) == (429, False)
    assert response["Retry-After"] == "900"  # 15 minutes
    html = response.content.decode()
    assert "Too many failed logins" in html
    assert "After 5 failed attempts" in html
    assert "for 15 minutes" in html
    assert 'name="password"' not in html  # no form to try again from
    # Per account: a new address does not help the locked account.
    assert attempt("lena", RIGHT, HOME)[:2] == (429, False)


def test_four_failures_then_the_right_password_logs_in(lena):
    assert fail("lena", OFFICE, times=4) == [200, 200, 200, 200]
    assert attempt("lena", RIGHT, OFFICE)[:2] == (302, True)


def test_five_failures_from_one_address_lock_another_account_there(lena, ravi):
    # Per address: 3 against lena and 2 against ravi are 5 from the office. Neither account has
    # reached 5 on its own.
    assert fail("lena", OFFICE, times=3) == [200, 200, 200]
    assert fail("ravi", OFFICE, times=2) == [200, 429]
    jonas = UserFactory(username="jonas")
    assert attempt(jonas.username, RIGHT, OFFICE)[:2] == (429, False)
    # The accounts themselves (3 and 2 failures) still log in from elsewhere.
    assert attempt("lena", RIGHT, HOME)[:2] == (302, True)
    assert attempt("ravi", RIGHT, HOME)[:2] == (302, True)


def test_the_lockout_ends_after_the_cool_off(lena):
    fail("lena", OFFICE, times=5)
    assert attempt("lena", RIGHT, OFFICE)[:2] == (429, False)
    # Time travel: axes judges attempts by attempt_time against AXES_COOLOFF_TIME (15 minutes).
    # The refused attempt above counted too (each attempt during a lockout restarts it).
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=14))
    assert attempt("lena", RIGHT, OFFICE)[:2] == (429, False)  # 14 minutes later: still locked
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert attempt("lena", RIGHT, OFFICE)[:2] == (302, True)


def test_a_shorter_cool_off_setting_ends_it_sooner(lena, settings):
    fail("lena", OFFICE, times=5)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=3))
    assert attempt("lena", RIGHT, OFFICE)[:2] == (429, False)  # 15-minute cool-off: locked
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=3))
    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)
    assert attempt("lena", RIGHT, OFFICE)[:2] == (302, True)


def test_success_resets_the_count(lena):
    assert fail("lena", OFFICE, times=4) == [200, 200, 200, 200]
    assert attempt("lena", RIGHT, OFFICE)[:2] == (302, True)
    # Counted from zero again: four more failures (eight in all) do not lock.
    assert fail("lena", OFFICE, times=4) == [200, 200, 200, 200]
    assert attempt("lena", RIGHT, OFFICE)[:2] == (302, True)
    assert AccessAttempt.objects.count() == 0


def test_logging_in_to_ones_own_account_does_not_clear_guesses_at_another(lena, ravi):
    # ravi guesses at lena's password from the office, then logs in as himself from there.
    assert fail("lena", OFFICE, times=4) == [200, 200, 200, 200]
    assert attempt("ravi", RIGHT, OFFICE)[:2] == (302, True)
    # lena's 4 failures stand (axes' own reset would have deleted every failure from the address):
    # one more locks her account.
    assert fail("lena", OFFICE, times=1) == [429]
    assert attempt("lena", RIGHT, HOME)[:2] == (429, False)


def test_the_lockout_page_answers_a_locked_address_without_naming_the_account(lena, ravi):
    fail("ravi", OFFICE, times=5)
    status, _, response = attempt("lena", RIGHT, OFFICE)
    assert status == 429
    assert "lena" not in response.content.decode()


def test_force_login_is_not_subject_to_lockout(client, lena):
    fail("lena", OFFICE, times=5)
    client.force_login(lena)
    assert SESSION_KEY in client.session


def test_the_test_clients_login_needs_a_request(lena, rf):
    # AxesStandaloneBackend refuses authenticate() without a request (fail closed): the test
    # client's login() works when given one, and force_login needs none.
    browser = Client()
    with pytest.raises(ValueError, match="requires a request"):
        browser.login(username="lena", password=RIGHT)
    assert browser.login(request=rf.post(LOGIN, REMOTE_ADDR=OFFICE), username="lena", password=RIGHT) is True


def test_the_admin_login_is_locked_too(lena):
    fail("lena", OFFICE, times=5)
    response = Client().post(reverse("admin:login"), {"username": "lena", "password": RIGHT}, REMOTE_ADDR=OFFICE)
    assert response.status_code == 429


class TestClientAddress:
    """accounts.throttles.client_ip: what lockout counts per address."""

    def test_without_a_proxy_the_forwarded_header_is_ignored(self, rf, settings):
        settings.TRUSTED_PROXY_COUNT = 0
        request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4")
        assert client_ip(request) == "10.0.0.5"

    def test_behind_one_proxy_the_address_it_saw(self, rf, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        # The client sent a made-up X-Forwarded-For; the proxy appended the real address.
        request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.20")
        assert client_ip(request) == "198.51.100.20"

    def test_behind_two_proxies_the_address_the_outer_one_saw(self, rf, settings):
        settings.TRUSTED_PROXY_COUNT = 2
        request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.20, 10.0.0.9")
        assert client_ip(request) == "198.51.100.20"

    def test_behind_a_proxy_without_the_header_remote_addr(self, rf, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.5")) == "10.0.0.5"

    def test_lockout_counts_per_forwarded_address_behind_a_proxy(self, lena, ravi, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        for _ in range(5):
            Client().post(
                LOGIN,
                {"username": "ravi", "password": "wrong-password"},
                REMOTE_ADDR="10.0.0.5",
                HTTP_X_FORWARDED_FOR=OFFICE,
            )
        via_proxy = {"REMOTE_ADDR": "10.0.0.5"}
        locked = Client().post(LOGIN, {"username": "lena", "password": RIGHT}, HTTP_X_FORWARDED_FOR=OFFICE, **via_proxy)
        free = Client().post(LOGIN, {"username": "lena", "password": RIGHT}, HTTP_X_FORWARDED_FOR=HOME, **via_proxy)
        assert (locked.status_code, free.status_code) == (429, 302)
