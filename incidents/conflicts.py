"""The edit page's 409, field by field: what the others changed since the editor loaded the
incident (from its activity entries), beside what the editor typed, and whether their own
changes can go on top in one click.

The edit form carries, per field, the value it was loaded with (Django's ``show_hidden_initial``:
``initial-<field>``), so ``form.changed_data`` is exactly what the editor changed, and
``seen_activity``, the newest activity entry when it was loaded. One click is offered when the
editor changed only fields nobody else did: the same form is posted again with the current
version, the current values as its initial ones and the editor's values for their fields, so only
those are sent to ``incident_update``. Where both changed a field, one click cannot choose, and
is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.humanize.templatetags.humanize import intcomma
from django.db.models import Model
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.text import Truncator

from accounts.models import User
from config.services import as_json

from .models import Activity, Incident, Verb

# The entries that come with a new version of the incident (one per version).
VERSIONED_VERBS = (Verb.UPDATED, Verb.STATUS_CHANGED, Verb.CLOSED, Verb.REOPENED)
SEEN_FIELD = "seen_activity"


def newest_activity_id(incident: Incident) -> int:
    """The cursor an edit form is loaded with (``seen_activity``)."""
    return Activity.objects.filter(incident=incident).order_by("-id").values_list("id", flat=True).first() or 0


def form_initial(incident: Incident) -> dict[str, Any]:
    """The edit form's initial values: the version it edits, and the detection time to the
    minute, as the form shows it, so an untouched field is not a change."""
    return {"version": incident.version, "detected_at": incident.detected_at.replace(second=0, microsecond=0)}


def track_changes(form: forms.Form) -> None:
    """Render each field's loaded value beside it (``initial-<name>``), so ``changed_data`` is what
    the editor changed rather than what differs from the incident as it is now."""
    for name, form_field in form.fields.items():
        if name != "version":
            form_field.show_hidden_initial = True


def loaded_values_sent(data: Mapping[str, Any]) -> bool:
    """Whether the post carries the loaded values (forms rendered before these existed did not)."""
    return any(key.startswith("initial-") for key in data)


def entries_since(current: Incident, *, seen_activity: str | None, expected_version: int) -> list[Activity]:
    """The entries that changed the incident since the editor loaded it, oldest first: those after
    the form's ``seen_activity``; without it, the newest ``current.version - expected_version``
    entries that come with a version."""
    entries = Activity.objects.filter(incident=current, verb__in=VERSIONED_VERBS).select_related("actor")
    if seen_activity and seen_activity.isascii() and seen_activity.isdigit():
        return list(entries.filter(pk__gt=int(seen_activity)).order_by("id"))
    missed = max(current.version - expected_version, 0)
    return list(reversed(entries.order_by("-id")[:missed]))


@dataclass
class TheirChange:
    old: str
    new: str
    entries: list[Activity]

    @property
    def last(self) -> Activity:
        return self.entries[-1]


@dataclass
class FieldRow:
    name: str
    label: str
    theirs: TheirChange | None
    yours: str | None  # what the editor typed, shown; None: they did not change it
    both: bool  # both changed it, to different values


@dataclass
class Author:
    who: str
    at: datetime


@dataclass
class EditConflict:
    current: Incident
    authors: list[Author]
    rows: list[FieldRow]
    other_entries: list[Activity]  # status changes, closing, reopening: not fields of this form
    merge: list[tuple[str, str]] | None = field(default=None)  # hidden inputs of the one-click form

    @property
    def overlap(self) -> list[str]:
        return [row.label for row in self.rows if row.both]

    @property
    def yours(self) -> list[str]:
        return [row.label for row in self.rows if row.yours is not None]


def _value_now(incident: Incident, name: str) -> Any:
    if name == "tags":  # a relation: compared as the sorted names the form cleans to
        return sorted(incident.tags.values_list("name", flat=True))
    return getattr(incident, name)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(a) == sorted(b)
    if isinstance(a, datetime) and isinstance(b, datetime):
        # The form edits to the minute.
        return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)
    if isinstance(a, Model) or isinstance(b, Model):
        return getattr(a, "pk", a) == getattr(b, "pk", b)
    return a == b


def _shown(name: str, value: Any, people: Mapping[str, str]) -> str:
    """A value as people read it, from its activity form (``as_json``): labels for choices,
    names for people, local times, Yes/No."""
    if value in (None, "", []):
        return "—"
    if isinstance(value, list):  # tags
        return ", ".join(str(item) for item in value)
    model_field = Incident._meta.get_field(name)
    if getattr(model_field, "choices", None):
        return str(dict(model_field.choices).get(value, value))
    if name == "lead":
        return people.get(value, value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return intcomma(value)
    if name.endswith("_at"):
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return str(value)
        return date_format(timezone.localtime(moment), "j M Y H:i")
    return Truncator(str(value)).chars(280)


def _people(usernames: Iterable[Any]) -> dict[str, str]:
    wanted = {name for name in usernames if isinstance(name, str) and name}
    return {user.username: str(user) for user in User.objects.filter(username__in=wanted)} if wanted else {}


def _raw(bound: forms.BoundField) -> list[str]:
    """A bound field's current value as the browser would post it."""
    value = bound.value()
    if isinstance(bound.field.widget, forms.CheckboxInput):
        return ["on"] if value else []
    shown = bound.field.widget.format_value(value)
    if shown is None:
        return [""]
    return [str(item) for item in shown] if isinstance(shown, list) else [str(shown)]


def _raw_initial(bound: forms.BoundField) -> str:
    shown = bound.field.hidden_widget().format_value(bound.value())
    return "" if shown is None else str(shown)


def describe(
    *,
    form: forms.Form,
    current_form: forms.Form,
    data: QueryDict,
    current: Incident,
    entries: list[Activity],
) -> EditConflict:
    """``form`` is the editor's valid, bound form; ``current_form`` an unbound one of ``current``
    (what the incident is now); ``data`` what was posted; ``entries`` from ``entries_since``."""
    theirs: dict[str, TheirChange] = {}
    for entry in entries:
        for name, change in (entry.data.get("changes") or {}).items():
            if name in theirs:
                theirs[name].new = change.get("new")
                theirs[name].entries.append(entry)
            else:
                theirs[name] = TheirChange(change.get("old"), change.get("new"), [entry])

    fields = [name for name in form.fields if name != "version"]
    if loaded_values_sent(data):
        mine = {name for name in form.changed_data if name in fields}
    else:  # a form without its loaded values: whatever differs from the incident now is theirs
        mine = {name for name in fields if not _same(form.cleaned_data.get(name), _value_now(current, name))}
    mine = {name for name in mine if not form.fields[name].disabled}

    usernames = [c.old for c in theirs.values()] + [c.new for c in theirs.values()]
    usernames += [as_json(form.cleaned_data.get("lead"))]
    people = _people(usernames)
    rows = []
    for name in fields:
        if name not in theirs and name not in mine:
            continue
        their = theirs.get(name)
        if their is not None:
            their.old, their.new = _shown(name, their.old, people), _shown(name, their.new, people)
        yours = _shown(name, as_json(form.cleaned_data.get(name)), people) if name in mine else None
        both = their is not None and name in mine and not _same(form.cleaned_data.get(name), _value_now(current, name))
        rows.append(FieldRow(name, str(form[name].label), their, yours, both))

    latest: dict[str, Author] = {}
    for entry in entries:
        who = str(entry.actor) if entry.actor else "the system"
        latest[who] = Author(who, entry.created_at)
    conflict = EditConflict(
        current=current,
        authors=list(latest.values()),
        rows=rows,
        other_entries=[entry for entry in entries if entry.verb != Verb.UPDATED],
    )
    if mine and not conflict.overlap:
        merge: list[tuple[str, str]] = [("version", str(current.version))]
        merge.append((SEEN_FIELD, str(entries[-1].pk if entries else newest_activity_id(current))))
        for name in fields:
            bound = current_form[name]
            if bound.field.disabled:
                continue
            values = data.getlist(name) if name in mine else _raw(bound)
            merge += [(name, value) for value in values]
            merge.append((bound.html_initial_name, _raw_initial(bound)))
        conflict.merge = merge
    return conflict
