from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import APIKey, User
from .services import api_key_authenticate

KEYWORD = "Api-Key"


class APIKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key <key>``. A bad, revoked or expired key is a 401."""

    def authenticate(self, request: Request) -> tuple[User, APIKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("No API key given.")
        key = api_key_authenticate(raw_key=raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when unauthenticated.
        return KEYWORD
