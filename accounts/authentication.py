from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
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
        key = api_key_authenticate(raw_key=raw_key, request=request)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when unauthenticated.
        return KEYWORD


class APIKeyScheme(OpenApiAuthenticationExtension):
    """Declares the key in the OpenAPI schema, so /api/v1/docs/ offers it under "Authorize"."""

    target_class = APIKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} <key>`; create one with `manage.py create_api_key`.",
        }
