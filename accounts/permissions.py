from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from .models import APIKey

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView


class HasScope(BasePermission):
    """Checks an API key's scopes against the view's ``read_scope`` / ``write_scope``.

    Requests authenticated by session (a person in the browser) are governed by their role
    instead; views enforce that through the incident selectors and services.
    """

    message = "This API key lacks the scope for this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return True
        scope = getattr(view, "read_scope" if request.method in SAFE_METHODS else "write_scope", None)
        if scope is None:
            return False
        # The scope's value ('incidents:write'), which is what the key's owner must grant, not the enum's repr.
        self.message = f"This API key lacks the '{scope}' scope."
        return key.has_scope(scope)


def may_read_back(request: Request, view: APIView) -> bool:
    """Whether a write's response may carry the whole object: always for a person (their role
    governs reads), for an API key only if it also holds the view's read scope. A write-only key
    gets the minimal result (reference or id, and version) and learns nothing else."""
    key = request.auth
    if not isinstance(key, APIKey):
        return True
    scope = getattr(view, "read_scope", None)
    return scope is not None and key.has_scope(scope)
