"""When a timeline event happened: parsing what people and logs write, and placing it in time.

Every event's instant is stored in UTC and truncated to its precision *in the offset it was
given in* (a 14:37 +05:30 event known to the hour is 14:00 +05:30). A ``day`` event has no time
of day: it is stored at 00:00 of its date in the timeline's zone (``TIME_ZONE``), so it sorts
first in the date group it is shown in, whatever offset a log wrote it with. The offset given is
kept (``occurred_offset``) to show the source's own clock beside the timeline's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import OFFSET_MAX, OFFSET_MIN, Precision

# A log's clock may run a little ahead of ours; more than this is a typo, not skew.
FUTURE_TOLERANCE = timedelta(minutes=5)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Epoch numbers: seconds (10 digits), milliseconds (13) or microseconds (16, Timesketch's
# ``timestamp``) since 1970, told apart by size.
_PRECISIONS = frozenset(Precision.values)
_EPOCH_NUMBER = re.compile(r"^-?\d{1,19}(\.\d+)?$")


@dataclass(frozen=True)
class Placed:
    """An event's place in time: what ``TimelineEvent.occurred_at/occurred_offset`` store."""

    occurred_at: datetime  # aware, UTC
    offset_minutes: int | None


def display_zone() -> tzinfo:
    """The zone the timeline is grouped and shown in."""
    return ZoneInfo(settings.TIME_ZONE)


def zone_named(name: str) -> tzinfo:
    """An IANA zone, or ValidationError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone “{name}”.", code="invalid_timezone") from exc


def parse_moment(value: object, *, default_zone: tzinfo | None = None) -> datetime | date:
    """A datetime (aware) or a date from what a form, an API client or a log file sent.

    Accepts aware datetimes, dates, ISO 8601 strings (``2026-03-02T14:05:00+01:00``, ``…Z``,
    ``2026-03-02 14:05``, ``2026-03-02``) and epoch numbers (seconds, milliseconds or
    microseconds). A time without an offset is read in ``default_zone``; with none given it is a
    ValidationError (a timeline cannot guess whose clock a log used)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(float(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValidationError("Enter when it happened.", code="required")
        if _DATE_ONLY.match(text):
            try:
                return date.fromisoformat(text)
            except ValueError as exc:
                raise ValidationError(f"“{text}” is not a valid date.", code="invalid") from exc
        if _EPOCH_NUMBER.match(text):
            return _from_epoch(float(text))
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError as exc:
            raise ValidationError(
                f"“{text[:60]}” is not a date and time: use ISO 8601, e.g. 2026-03-02T14:05:00+01:00.",
                code="invalid",
            ) from exc
    else:
        raise ValidationError("Enter when it happened.", code="required")
    if timezone.is_naive(moment):
        if default_zone is None:
            raise ValidationError(
                "Give the time with its UTC offset (e.g. +01:00 or Z): a time without one is ambiguous.",
                code="naive",
            )
        moment = moment.replace(tzinfo=default_zone)
    return moment


def _from_epoch(number: float) -> datetime:
    size = abs(number)
    seconds = number / 1_000_000 if size >= 1e14 else number / 1_000 if size >= 1e11 else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValidationError(f"{number:g} is not a usable epoch time.", code="invalid") from exc


def place(moment: datetime | date, precision: str, *, now: datetime | None = None) -> Placed:
    """Where ``moment`` goes on the timeline at ``precision`` (see ``_place``); a moment whose
    UTC instant falls outside years 1-9999 is a ValidationError, not an OverflowError."""
    try:
        return _place(moment, precision, now=now)
    except OverflowError as exc:
        raise ValidationError("That time is outside the calendar the timeline can hold.", code="overflow") from exc


def _place(moment: datetime | date, precision: str, *, now: datetime | None = None) -> Placed:
    """Where ``moment`` goes on the timeline at ``precision`` (see the module's docstring).

    Raises ValidationError for a time in the future, a date-only value with a precision finer
    than a day, or an offset outside -12:00…+14:00."""
    now = now or timezone.now()
    if precision not in _PRECISIONS:
        raise ValidationError(f"“{precision}” is not a precision.", code="invalid_choice")
    if not isinstance(moment, datetime):  # a date
        if precision != Precision.DAY:
            raise ValidationError("A date without a time needs the precision “to the day”.", code="date_only")
        local = datetime.combine(moment, time(0), tzinfo=display_zone())
        _check_future(local, now, day=True)
        return Placed(local.astimezone(UTC), None)
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if not OFFSET_MIN <= minutes <= OFFSET_MAX:
        raise ValidationError("The UTC offset must be between -12:00 and +14:00.", code="offset_range")
    if precision == Precision.DAY:
        local = datetime.combine(moment.date(), time(0), tzinfo=display_zone())
        _check_future(local, now, day=True)
        return Placed(local.astimezone(UTC), minutes)
    if precision == Precision.MINUTE:
        moment = moment.replace(second=0, microsecond=0)
    elif precision == Precision.HOUR:
        moment = moment.replace(minute=0, second=0, microsecond=0)
    instant = moment.astimezone(UTC)
    _check_future(instant, now, day=False)
    return Placed(instant, minutes)


def _check_future(instant: datetime, now: datetime, *, day: bool) -> None:
    limit = now.astimezone(display_zone()).replace(hour=0, minute=0, second=0, microsecond=0) if day else now
    if instant > (limit if day else limit + FUTURE_TOLERANCE):
        raise ValidationError("A timeline event cannot be in the future.", code="future")


def offset_text(minutes: int | None) -> str:
    """``+01:00`` / ``-05:30`` / ``""``."""
    if minutes is None:
        return ""
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"
