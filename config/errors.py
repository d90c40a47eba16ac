"""The application's own errors, shared by every app and mapped to HTTP once for DRF
(``config.api.exception_handler``) and once for pages (the views that catch them).

Django's ``ValidationError`` (400 / form error) and ``PermissionDenied`` (403) are used as they
are; these cover what Django has no class for.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """Base class: a rule of the application refused the request. ``http_status`` is what the
    API answers (with the message as ``detail``) for a subclass without a mapping of its own."""

    http_status = 400


class ConflictError(ApplicationError):
    """The object changed since the caller read ``expected_version`` (optimistic locking → 409).

    ``current`` is the object as it is now, with a ``version`` attribute and a ``reference``.
    """

    def __init__(self, current: Any, expected_version: int) -> None:
        self.current = current
        self.expected_version = expected_version
        super().__init__(
            f"{current.reference} was changed by someone else (you had version {expected_version}, "
            f"it is now {current.version}). Reload it and apply your change again."
        )

    @property
    def incident(self) -> Any:
        # The name the incident views and API have always used.
        return self.current
