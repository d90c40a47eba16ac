"""Checking a channel's target before it is saved (admin form, API serializer, services).

``channel_target_clean(kind, target)`` returns the target stripped of surrounding whitespace, or
raises ``ValidationError({"target": [message]})``:
- ``email``: an address Django's ``validate_email`` accepts;
- ``webhook``, ``slack``, ``teams``: an absolute URL of at most 2000 characters, https (http
  only to a host in ``settings.NOTIFICATION_HTTP_HOSTS``, a receiver on this machine), with no
  credentials in it (``user:password@``: they would show in logs and travel in clear in every
  request line; a webhook authenticates with its signature or its secret path instead).

Slack and Teams URLs are not tied to their vendors' hosts (``hooks.slack.com``,
``*.logic.azure.com`` / ``*.powerplatform.com``): those hosts vary (GovSlack, regional Power
Platform endpoints) and a test receiver runs on 127.0.0.1, so any https URL is accepted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from .models import ChannelKind

URL_MAX_LENGTH = 2000  # Channel.target's max_length

MESSAGES = {
    "required": "Enter the channel's target.",
    "email": "Enter a valid e-mail address.",
    "too_long": f"The URL is too long (at most {URL_MAX_LENGTH} characters).",
    "url": "Enter an absolute URL starting with https://.",
    "credentials": "Remove the user name and password from the URL (user:password@).",
    "http": "Use https: plain http is only allowed to {hosts}.",
}

_url_syntax = URLValidator(schemes=["http", "https"])


def _error(message: str) -> ValidationError:
    return ValidationError({"target": [message]})


def channel_target_clean(kind: str, target: str) -> str:
    """The normalized target (stripped) for a channel of ``kind``; raises ValidationError with
    one message under ``target`` (or under ``kind`` for an unknown kind)."""
    if kind not in ChannelKind.values:
        raise ValidationError({"kind": [f"Unknown channel kind {kind!r}."]})
    target = (target or "").strip()
    if not target:
        raise _error(MESSAGES["required"])
    if kind == ChannelKind.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise _error(MESSAGES["email"]) from None
        return target
    return _url_clean(target)


def _url_clean(url: str) -> str:
    if len(url) > URL_MAX_LENGTH:
        raise _error(MESSAGES["too_long"])
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host
        raise _error(MESSAGES["url"]) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise _error(MESSAGES["url"])
    # Before the syntax check: URLValidator accepts user:password@, and this message says more.
    if "@" in parts.netloc:
        raise _error(MESSAGES["credentials"])
    try:
        _url_syntax(url)
    except ValidationError:
        raise _error(MESSAGES["url"]) from None
    if parts.scheme.lower() == "http":
        allowed = [host.lower() for host in settings.NOTIFICATION_HTTP_HOSTS]
        if (parts.hostname or "").lower() not in allowed:
            raise _error(MESSAGES["http"].format(hosts=", ".join(allowed) or "no host"))
    return url
