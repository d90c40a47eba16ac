"""Serializer pieces every API resource shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

# Posted by the browsable API's HTML forms alongside the fields; not a field of any resource.
_FORM_NOISE = frozenset({"csrfmiddlewaretoken"})


class StrictFieldsMixin:
    """Refuse what cannot be set instead of silently ignoring it: every key in the request body
    that is not a writable field is a 400 naming it.

    ``read_only_names`` are fields a client sees in responses (so may plausibly send back):
    they are "read-only"; anything else is "unknown". ``read_only_messages`` say why for the
    fields where a better way exists (e.g. status → the transition action).
    """

    read_only_names: frozenset[str] = frozenset()
    read_only_messages: Mapping[str, str] = {}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            errors: dict[str, list[str]] = {}
            for key in data:
                if key in writable or key in _FORM_NOISE:
                    continue
                if key in self.read_only_messages:
                    errors[key] = [self.read_only_messages[key]]
                elif key in self.fields or key in self.read_only_names:
                    errors[key] = ["This field is read-only."]
                else:
                    errors[key] = ["Unknown field."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
