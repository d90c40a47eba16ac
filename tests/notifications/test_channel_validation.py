"""``channel_target_clean``: what a channel may point at, and the message for what it may not."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from notifications.validation import channel_target_clean

LOCAL_ONLY = "Use https: plain http is only allowed to 127.0.0.1, localhost, ::1."
NOT_A_URL = "Enter an absolute URL starting with https://."
CREDENTIALS = "Remove the user name and password from the URL (user:password@)."
TOO_LONG = "The URL is too long (at most 2000 characters)."
NOT_AN_ADDRESS = "Enter a valid e-mail address."
EMPTY = "Enter the channel's target."

LONGEST = "https://soar.example.com/" + "a" * (2000 - 25)
TEAMS_URL = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=xyz"
)


@pytest.mark.parametrize(
    ("kind", "target", "expected"),
    [
        ("email", "soc@example.org", "soc@example.org"),
        ("email", "  soc@example.org\n", "soc@example.org"),
        ("webhook", "https://soar.example.com/hooks/breachline", "https://soar.example.com/hooks/breachline"),
        ("webhook", " https://soar.example.com/hook?x=1 ", "https://soar.example.com/hook?x=1"),
        ("webhook", "http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"),
        ("webhook", "http://localhost/hook", "http://localhost/hook"),
        ("webhook", "http://LOCALHOST:9/hook", "http://LOCALHOST:9/hook"),
        ("webhook", "http://[::1]:9000/hook", "http://[::1]:9000/hook"),
        ("webhook", LONGEST, LONGEST),
        ("slack", "https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/T000/B000/XXXX"),
        # Any https host: Slack's hooks host is not enforced (GovSlack, test receivers); see the module.
        ("slack", "https://hooks.example.org/services/x", "https://hooks.example.org/services/x"),
        ("teams", TEAMS_URL, TEAMS_URL),
    ],
)
def test_accepted(kind: str, target: str, expected: str) -> None:
    assert channel_target_clean(kind, target) == expected


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("email", "", EMPTY),
        ("email", "   ", EMPTY),
        ("email", "not-an-address", NOT_AN_ADDRESS),
        ("email", "soc@", NOT_AN_ADDRESS),
        ("email", "https://soar.example.com/hook", NOT_AN_ADDRESS),
        ("email", "soc@example.org, ceo@example.org", NOT_AN_ADDRESS),
        ("webhook", "", EMPTY),
        ("webhook", "soc@example.org", NOT_A_URL),
        ("webhook", "/relative/hook", NOT_A_URL),
        ("webhook", "soar.example.com/hook", NOT_A_URL),
        ("webhook", "ftp://soar.example.com/hook", NOT_A_URL),
        ("webhook", "javascript:alert(1)", NOT_A_URL),
        ("webhook", "https://", NOT_A_URL),
        ("webhook", "https://soar example.com/hook", NOT_A_URL),
        ("webhook", "https://[::1/hook", NOT_A_URL),
        ("webhook", "http://soar.example.com/hook", LOCAL_ONLY),
        ("webhook", "http://127.0.0.2/hook", LOCAL_ONLY),
        ("webhook", "https://user:secret@soar.example.com/hook", CREDENTIALS),
        ("webhook", "https://token@soar.example.com/hook", CREDENTIALS),
        ("webhook", "http://user:secret@127.0.0.1/hook", CREDENTIALS),
        ("webhook", LONGEST + "a", TOO_LONG),
        ("slack", "http://hooks.slack.com/services/T000/B000/XXXX", LOCAL_ONLY),
        ("slack", "hooks.slack.com/services/T000/B000/XXXX", NOT_A_URL),
        ("teams", TEAMS_URL.replace("https://", "http://"), LOCAL_ONLY),
        ("teams", "https://admin:pw@prod-12.westeurope.logic.azure.com/workflows/x", CREDENTIALS),
    ],
)
def test_refused(kind: str, target: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        channel_target_clean(kind, target)
    assert caught.value.message_dict == {"target": [message]}


def test_unknown_kind() -> None:
    with pytest.raises(ValidationError) as caught:
        channel_target_clean("pager", "https://soar.example.com/hook")
    assert caught.value.message_dict == {"kind": ["Unknown channel kind 'pager'."]}


def test_http_hosts_follow_the_setting(settings) -> None:
    settings.NOTIFICATION_HTTP_HOSTS = ["receiver.internal"]

    assert channel_target_clean("webhook", "http://receiver.internal:8080/hook") == "http://receiver.internal:8080/hook"
    with pytest.raises(ValidationError) as caught:
        channel_target_clean("webhook", "http://127.0.0.1:8080/hook")
    assert caught.value.message_dict == {"target": ["Use https: plain http is only allowed to receiver.internal."]}


@given(kind=st.sampled_from(["email", "webhook", "slack", "teams"]), target=st.text(max_size=300))
def test_any_text_is_accepted_stripped_or_refused_with_a_target_message(kind: str, target: str) -> None:
    try:
        cleaned = channel_target_clean(kind, target)
    except ValidationError as exc:
        assert list(exc.message_dict) == ["target"]
        assert len(exc.message_dict["target"]) == 1
    else:
        assert cleaned == cleaned.strip()
        assert cleaned in target
        # Clean is idempotent: what it returns passes again unchanged.
        assert channel_target_clean(kind, cleaned) == cleaned


@given(
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/", max_size=50),
    host=st.sampled_from(["soar.example.com", "hooks.slack.com", "10.0.0.5"]),
)
def test_https_urls_on_real_hosts_are_accepted(path: str, host: str) -> None:
    url = f"https://{host}/{path}"
    assert channel_target_clean("webhook", url) == url
