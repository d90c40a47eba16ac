"""POSTing JSON to a receiver, shared by the webhook, Slack and Teams transports."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from .base import TransportError

# A receiver answering these will answer the same next time: stop retrying. 408 (timeout) and
# 429 (slow down) are worth another try, like every 5xx.
RETRYABLE_4XX = frozenset({408, 425, 429})


def _reason(exc: Exception) -> str:
    """The root cause of a connection failure ("[Errno 111] Connection refused"), not urllib3's
    whole retry chain."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    return found.group(0).strip() if found else f"{type(exc).__name__}: {text[:300]}"


def post_json(
    url: str, payload: Any, *, headers: dict[str, str] | None = None, body: bytes | None = None
) -> requests.Response:
    """POST ``payload`` (or the already-encoded ``body``) and return the response when it is a
    2xx. Raises TransportError: permanent for a 4xx but ``RETRYABLE_4XX``, transient for a 5xx,
    a timeout or a connection failure. Redirects are not followed (a webhook that moved is a
    configuration to fix, and following could leak the signature elsewhere)."""
    data = body if body is not None else json.dumps(payload, separators=(",", ":")).encode()
    try:
        response = requests.post(
            url,
            data=data,
            headers={"Content-Type": "application/json", "User-Agent": "Breachline", **(headers or {})},
            timeout=settings.NOTIFICATION_HTTP_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise TransportError(f"No answer within {settings.NOTIFICATION_HTTP_TIMEOUT_SECONDS} s.") from None
    except requests.RequestException as exc:
        raise TransportError(f"Connection failed: {_reason(exc)} ({urlsplit(url).netloc})") from None
    if 200 <= response.status_code < 300:
        return response
    text = response.text[:200].strip()
    message = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    permanent = 300 <= response.status_code < 500 and response.status_code not in RETRYABLE_4XX
    raise TransportError(message, permanent=permanent)
