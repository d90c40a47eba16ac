"""Browser forms of the timeline page: its filters, and adding and editing an event in place.

They parse what the browser sends; the rules (ATT&CK ids, links of the same incident, times in
the future, who may do what) are ``timeline.services``'. A form that does check something (the
technique, the time) uses the same functions the services do, so both say the same thing.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import QueryDict

from accounts.models import User
from incidents.evidence.selectors import evidence_for
from incidents.forms import INTERNAL_LABEL, offer_internal
from incidents.indicators.selectors import indicators_for
from incidents.models import Incident
from incidents.vendors.selectors import involvements_for

from . import attack, when
from .models import EventKind, Precision, TimelineEvent

# --- Filters ---------------------------------------------------------------------------------


class FilterForm(forms.Form):
    """The page's GET filters. A bad value is an error beside its field and that filter alone
    is dropped (``filters()``): the timeline still shows, never a 500."""

    kind = forms.MultipleChoiceField(choices=EventKind.choices, required=False, widget=forms.CheckboxSelectMultiple)
    key = forms.BooleanField(required=False, label="Key events only")
    vendor = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Vendor")
    technique = forms.CharField(
        required=False,
        max_length=9,
        label="ATT&CK technique",
        widget=forms.TextInput(attrs={"placeholder": "e.g. T1078", "list": "attack-techniques", "spellcheck": "false"}),
        help_text="A technique finds its sub-techniques too.",
    )

    def __init__(self, *args: Any, vendors: list[tuple[int, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        self.fields["vendor"].choices = [("", "Any vendor"), *vendors]

    def clean_technique(self) -> str:
        value = self.cleaned_data["technique"].strip().upper()
        if value and not attack.TECHNIQUE_ID.match(value):
            raise ValidationError("Enter a technique id such as T1078 or T1078.004.")
        return value

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for ``selectors.filtered``: the fields that are valid."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "kinds": data.get("kind") or None,
            "key_only": bool(data.get("key")),
            "vendor_id": data.get("vendor"),
            "technique": data.get("technique") or "",
        }

    @property
    def active(self) -> bool:
        return any(self.filters().values())


# --- Time zones ------------------------------------------------------------------------------
# Logs state offsets as often as zones: both are offered. Offsets are the ones in use somewhere.
_OFFSETS = [f"{sign}{hours:02d}:00" for sign, hours in [("-", h) for h in range(12, 0, -1)]] + [
    f"+{hours:02d}:00" for hours in range(0, 15)
]
_OFFSETS += ["-09:30", "-03:30", "+03:30", "+04:30", "+05:30", "+05:45", "+06:30", "+08:45", "+09:30", "+10:30"]
_OFFSETS += ["+12:45", "+13:45"]
_OFFSET_TEXT = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _offset_minutes(text: str) -> int:
    sign, hours, minutes = _OFFSET_TEXT.match(text).groups()  # type: ignore[union-attr]
    value = int(hours) * 60 + int(minutes)
    return -value if sign == "-" else value


@cache
def zone_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The time-zone select: UTC offsets, then the IANA zones (regions only, by name)."""
    offsets = sorted(set(_OFFSETS), key=_offset_minutes)
    zones = sorted(name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/")))
    return [
        ("UTC offsets", [(value, f"UTC{value}") for value in offsets]),
        ("Time zones", [("UTC", "UTC"), *((name, name.replace("_", " ")) for name in zones)]),
    ]


def zone_from_choice(value: str) -> tzinfo:
    """A choice of ``zone_choices`` as a tzinfo (ValidationError for anything else)."""
    if _OFFSET_TEXT.match(value or ""):
        return dt_timezone(timedelta(minutes=_offset_minutes(value)))
    return when.zone_named(value)


def _valid_zones() -> set[str]:
    return {value for _group, options in zone_choices() for value, _label in options}


def zone_choice_for(event: TimelineEvent) -> str:
    """The select's value that shows ``event`` in the clock it was given in: the timeline's own
    zone when that clock is the timeline's (or unknown), else its UTC offset."""
    offset = event.occurred_offset
    shown = event.occurred_at.astimezone(when.display_zone()).utcoffset() or timedelta(0)
    if offset is None or timedelta(minutes=offset) == shown:
        return settings.TIME_ZONE
    text = when.offset_text(offset)
    return text if text in _valid_zones() else settings.TIME_ZONE


# --- Adding and editing ----------------------------------------------------------------------
_LOCAL_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


class EventForm(forms.Form):
    """One event. ``occurred_at`` is a wall-clock time read in ``zone``; for precision "to the
    day" only its date counts and the service is given a date."""

    occurred_at = forms.CharField(
        label="When",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="The time on the clock of the zone beside it. To the day: any time that day.",
    )
    zone = forms.ChoiceField(label="Time zone", choices=())
    precision = forms.ChoiceField(choices=Precision.choices, initial=Precision.MINUTE)
    kind = forms.ChoiceField(choices=[("", "Choose…"), *EventKind.choices])
    title = forms.CharField(max_length=300)
    description = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened, what it shows. Markdown works."}),
    )
    source = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Entra ID sign-in log, EDR, firewall"}),
    )
    technique = forms.CharField(
        required=False,
        max_length=20,
        label="ATT&CK technique",
        widget=forms.TextInput(
            attrs={"list": "attack-techniques", "placeholder": "e.g. T1078.004", "spellcheck": "false"}
        ),
        help_text=f"ATT&CK Enterprise {attack.RELEASE}.",
    )
    key_event = forms.BooleanField(required=False, label="Key event")
    evidence = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    indicators = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    vendor = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    internal = forms.BooleanField(required=False, label=INTERNAL_LABEL)

    id_prefix = "event-add"

    def __init__(
        self,
        *args: Any,
        incident: Incident,
        viewer: User,
        choices: LinkChoices,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)
        self.incident = incident
        self.fields["zone"].choices = zone_choices()
        self.fields["zone"].initial = settings.TIME_ZONE
        self.fields["evidence"].choices = choices.evidence
        self.fields["indicators"].choices = choices.indicators
        self.fields["vendor"].choices = [("", "None"), *choices.vendors]
        offer_internal(self, incident, viewer)

    def clean_technique(self) -> str:
        return attack.clean_technique(self.cleaned_data["technique"])

    def clean_description(self) -> str:
        # Browsers post a textarea's lines with CRLF: stored (and compared) with LF.
        return self.cleaned_data["description"].replace("\r\n", "\n")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        raw, zone_name = data.get("occurred_at"), data.get("zone")
        if raw is None or zone_name is None:
            return data
        try:
            zone = zone_from_choice(zone_name)
        except ValidationError as exc:
            self.add_error("zone", exc)
            return data
        local = _parse_local(raw)
        if local is None:
            self.add_error("occurred_at", "Enter a date and time, e.g. 2026-03-02 14:05.")
            return data
        data["moment"] = local.date() if data.get("precision") == Precision.DAY else local.replace(tzinfo=zone)
        return data

    def fields_for_service(self) -> dict[str, Any]:
        """Keyword arguments for ``services.event_add``."""
        data = self.cleaned_data
        fields = {
            "occurred_at": data["moment"],
            "precision": data["precision"],
            "kind": data["kind"],
            "title": data["title"],
            "description": data["description"],
            "source": data["source"],
            "technique": data["technique"],
            "key_event": data["key_event"],
            "evidence": data.get("evidence") or [],
            "indicators": data.get("indicators") or [],
            "vendor": data.get("vendor"),
        }
        if "internal" in self.fields:
            fields["internal"] = data["internal"]
        return fields


def _parse_local(text: str) -> datetime | None:
    text = text.strip()
    for pattern in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day)


class EventEditForm(EventForm):
    """Change an event. ``version`` is the one the form was rendered with: the service refuses
    (409) a save over someone else's change. ``changes()`` sends only what was changed, so a
    time shown unchanged is not re-placed, and links the editor cannot see are not dropped."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    # The values the form was opened with, as posted (JSON): after a conflict, what the editor
    # changed is told apart from what someone else changed meanwhile (``rebase``).
    opened = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, event: TimelineEvent, vendor_shown: Any, **kwargs: Any) -> None:
        self.event = event
        self.id_prefix = f"event-{event.pk}"
        zone_name = zone_choice_for(event)
        local = event.occurred_at.astimezone(zone_from_choice(zone_name))
        initial = {
            "occurred_at": local.strftime("%Y-%m-%dT%H:%M:%S"),
            "zone": zone_name,
            "precision": event.precision,
            "kind": event.kind,
            "title": event.title,
            "description": event.description,
            "source": event.source,
            "technique": event.technique,
            "key_event": event.key_event,
            "evidence": [item.pk for item in event.evidence.all()],
            "indicators": [item.pk for item in event.indicators.all()],
            "vendor": vendor_shown.pk if vendor_shown else None,
            "internal": event.internal,
            "version": event.version,
        }
        initial["opened"] = json.dumps(_as_posted(initial))
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        if "internal" in self.fields:
            self.fields["internal"].initial = event.internal

    def changes(self) -> dict[str, Any]:
        """``data`` for ``services.event_update``: the fields whose value differs from the form's
        initial one (the time and precision together, as they are placed together)."""
        fields = self.fields_for_service()
        data: dict[str, Any] = {}
        # The browser may send 14:05 for 14:05:00: times are compared, not their text.
        when_changed = (
            _parse_local(self.cleaned_data["occurred_at"]) != _parse_local(self.initial["occurred_at"])
            or self.cleaned_data["zone"] != self.initial["zone"]
            or self.cleaned_data["precision"] != self.initial["precision"]
        )
        if when_changed:
            data["occurred_at"], data["precision"] = fields["occurred_at"], fields["precision"]
        for name in ("kind", "title", "description", "source", "technique", "key_event", "internal"):
            if name in fields and fields[name] != self.initial.get(name):
                data[name] = fields[name]
        for name in ("evidence", "indicators"):
            if sorted(fields[name]) != sorted(self.initial.get(name) or []):
                data[name] = fields[name]
        if fields["vendor"] != self.initial.get("vendor"):
            data["vendor"] = fields["vendor"]
        return data


# What an edit changes, as the form posts it.
_EDITED = (
    "occurred_at", "zone", "precision", "kind", "title", "description", "source", "technique", "key_event",
    "evidence", "indicators", "vendor", "internal",
)  # fmt: skip
_CHECKBOXES = ("key_event", "internal")
_MULTIPLE = ("evidence", "indicators")


def _normal(name: str, values: list[str]) -> list[str]:
    """One field's posted values, comparable: a ticked box is ["on"], lists sorted, a time as
    the instant it names (14:05 and 14:05:00 are the same), empty text as nothing."""
    if name in _CHECKBOXES:
        return ["on"] if values and values[0] not in ("", "false", "off") else []
    if name in _MULTIPLE:
        return sorted(str(value) for value in values)
    text = str(values[0]).strip() if values else ""
    if name == "occurred_at" and (moment := _parse_local(text)) is not None:
        text = moment.isoformat()
    return [text] if text else []


def _as_posted(initial: dict[str, Any]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name in _EDITED:
        value = initial.get(name)
        if isinstance(value, bool):
            raw = ["on"] if value else []
        elif isinstance(value, list):
            raw = [str(item) for item in value]
        else:
            raw = [] if value is None else [str(value)]
        values[name] = _normal(name, raw)
    return values


def rebase(posted: QueryDict, current: EventEditForm) -> tuple[QueryDict, list[str]]:
    """A stale edit moved onto the event as it is now (``current``: an unbound form of it):
    the fields the editor changed keep what they typed, the others take the current values.
    Returns that data (carrying the current version) and the names of the fields someone else
    changed meanwhile. Without a readable ``opened`` every posted field counts as changed."""
    try:
        opened = json.loads(posted.get("opened") or "")
        opened = opened if isinstance(opened, dict) else None
    except ValueError:
        opened = None
    now = _as_posted(current.initial)
    data = QueryDict(mutable=True)
    theirs: list[str] = []
    for name in _EDITED:
        mine = _normal(name, posted.getlist(name))
        changed_by_me = opened is None or mine != opened.get(name)
        data.setlist(name, mine if changed_by_me else now[name])
        if opened is not None and opened.get(name) != now[name]:
            theirs.append(name)
    data["version"] = str(current.event.version)
    data["opened"] = json.dumps(now)
    if data.get("occurred_at"):  # normalized to an ISO instant without zone: the form reads it
        data["occurred_at"] = data["occurred_at"][:19]
    return data, theirs


class LinkChoices:
    """What the add and edit forms offer to link: the incident's evidence, indicators and
    vendors the viewer may see (three queries, made once per request)."""

    def __init__(self, incident: Incident, viewer: User, *, vendors: list[tuple[int, str]] | None = None) -> None:
        self.evidence: list[tuple[int, str]] = list(
            evidence_for(viewer, incident).order_by("name", "pk").values_list("pk", "name")
        )
        self.indicators: list[tuple[int, str]] = [
            (pk, f"{kind} {value}")
            for pk, kind, value in indicators_for(viewer, incident)
            .order_by("type", "value")
            .values_list("pk", "type", "value")
        ]
        self.vendors: list[tuple[int, str]] = vendor_choices(incident, viewer) if vendors is None else vendors


def vendor_choices(incident: Incident, viewer: User) -> list[tuple[int, str]]:
    """The vendors of ``incident`` ``viewer`` may know (a vendor collaborator: their own)."""
    rows = involvements_for(viewer, incident).order_by("vendor__name").values_list("vendor_id", "vendor__name")
    return list(rows)
