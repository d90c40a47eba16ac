"""Regulatory deadline arithmetic: when a notification obligation falls due.

Pure functions, no models and no database. Contract for every function here:

- every datetime taken and returned is timezone-aware; returned datetimes are in UTC (``datetime.UTC``);
- a naive datetime, an unknown rule, time zone or holiday country, or an argument that makes no sense
  for the rule raises ``ValueError`` with a message saying which;
- "wall-clock" rules (NIS2 final report, HIPAA, custom business days) resolve a local time that does not
  exist (spring-forward gap) to the first instant that does, and an ambiguous one (fall-back) to its
  first occurrence (``fold=0``).

Each rule's legal source is given next to its arithmetic below; `explain` renders the computation as one
sentence counsel can check against a calendar.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays


class Rule(StrEnum):
    """How a regime counts its deadline from its starting event."""

    GDPR = "gdpr"
    NIS2_EARLY_WARNING = "nis2_early_warning"
    NIS2_NOTIFICATION = "nis2_notification"
    NIS2_FINAL_REPORT = "nis2_final_report"
    SEC_8K = "sec_8k"
    HIPAA = "hipaa"
    CUSTOM = "custom"


# GDPR Art. 33(1): "not later than 72 hours after having become aware of it". Elapsed hours: a DST
# change in between moves the local wall time of the deadline, never the 72 h.
# NIS2 (Directive (EU) 2022/2555) Art. 23(4)(a): early warning "within 24 hours of becoming aware";
# Art. 23(4)(b): incident notification "within 72 hours of becoming aware". Elapsed hours as well.
ELAPSED_HOURS: dict[Rule, int] = {Rule.GDPR: 72, Rule.NIS2_EARLY_WARNING: 24, Rule.NIS2_NOTIFICATION: 72}

# NIS2 Art. 23(4)(d): final report "not later than one month after the submission of the incident
# notification". One calendar month in this zone unless the caller names another.
NIS2_FINAL_REPORT_DEFAULT_TZ = "Europe/Brussels"

# SEC Form 8-K General Instruction B.1 / Item 1.05: filed within four business days after the registrant
# determines the incident is material. Counted in New York, US federal holidays skipped (holidays.US(),
# observed days included); the determination's New York date is day 0 whatever day it is. EDGAR dates a
# filing accepted after 5:30 pm ET the next business day (Regulation S-T Rule 13(a), 17 CFR 232.13(a)), so the last
# moment that still carries the fourth business day's date is 17:30 ET.
SEC_8K_BUSINESS_DAYS = 4
SEC_8K_TZ = "America/New_York"
SEC_8K_CUTOFF = time(17, 30)

# HIPAA 45 CFR §164.404(b): "without unreasonable delay and in no case later than 60 calendar days after
# discovery of a breach". Same wall-clock time 60 days on, in this zone unless the caller names another.
HIPAA_CALENDAR_DAYS = 60
HIPAA_DEFAULT_TZ = "America/New_York"


@dataclass(frozen=True)
class Custom:
    """A regime defined in the admin: ``duration`` counted as elapsed time (calendar) or, with
    ``business_days``, as that many whole business days in ``timezone`` (weekends and, when
    ``holiday_country`` is set, that country's public holidays skipped), due at the start's wall time.

    Raises ValueError on construction for a non-positive duration, a business-day duration with an
    hours/minutes/seconds part, an unknown IANA zone or an unknown holiday country.
    """

    duration: timedelta
    business_days: bool = False
    timezone: str = "UTC"
    holiday_country: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.duration, timedelta):
            raise ValueError(f"Custom.duration must be a timedelta, not {type(self.duration).__name__}")
        if self.duration <= timedelta(0):
            raise ValueError(f"Custom.duration must be positive, got {self.duration}")
        if self.business_days and (self.duration.seconds or self.duration.microseconds):
            raise ValueError(
                f"Custom.duration counted in business days must be whole days, got {self.duration} "
                "(an hours part cannot be counted in business days)"
            )
        _zone(self.timezone)
        if self.holiday_country:
            _holiday_calendar(self.holiday_country, None)


def due_at(rule: Rule | str, start: datetime, *, custom: Custom | None = None, tz: str | None = None) -> datetime:
    """The moment (UTC) the obligation under ``rule`` falls due, from the starting event's time ``start``.

    ``start`` is awareness (GDPR, NIS2 24 h/72 h), the submission of the NIS2 incident notification (final
    report), the materiality determination (SEC 8-K), discovery (HIPAA) or the custom regime's event.
    ``tz`` is the zone in which calendar months/days are counted for NIS2_FINAL_REPORT (default
    Europe/Brussels) and HIPAA (default America/New_York); for the elapsed-hour rules it only chooses the
    zone `explain` shows and does not change the result. SEC 8-K is always counted in New York (any other
    ``tz`` is refused) and CUSTOM in ``custom.timezone`` (a different ``tz`` is refused). ``custom`` is required for
    CUSTOM and refused for every other rule. Raises ValueError on a naive ``start`` or a bad argument.
    """
    return _compute(rule, start, custom=custom, tz=tz).due


def business_days_after(start_date: date, days: int, *, country: str = "US", subdiv: str | None = None) -> date:
    """The date ``days`` business days after ``start_date``: Saturdays, Sundays and ``country``'s public
    holidays (``holidays.country_holidays(country, subdiv=subdiv)``, observed days included) are skipped;
    ``start_date`` itself never counts, whatever day it is. ``country=""`` skips weekends only.

    Raises ValueError if ``start_date`` is a datetime (pass its local date), ``days`` < 1, or the
    country/subdivision is unknown.
    """
    return _count_business_days(start_date, days, _business_calendar(country, subdiv))[0]


def explain(rule: Rule | str, start: datetime, *, custom: Custom | None = None, tz: str | None = None) -> str:
    """One sentence stating the computation of `due_at` (same arguments, same ValueErrors), for the incident
    page, e.g. "72 hours after awareness at 2026-03-27 10:00 UTC: 2026-03-30 10:00 UTC"."""
    return _compute(rule, start, custom=custom, tz=tz).sentence


# --- internals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    due: datetime
    sentence: str


@dataclass(frozen=True)
class _BusinessCalendar:
    holidays: holidays.HolidayBase | None

    def skip_reason(self, day: date) -> str | None:
        """None if ``day`` is a business day; "" for a weekend day; the holiday's name for a weekday holiday."""
        if day.weekday() >= 5:
            return ""
        if self.holidays is not None and day in self.holidays:
            return self.holidays.get(day)
        return None


def _compute(rule: Rule | str, start: datetime, *, custom: Custom | None, tz: str | None) -> _Result:
    try:
        rule = Rule(rule)
    except ValueError:
        raise ValueError(f"unknown deadline rule {rule!r}; expected one of {', '.join(Rule)}") from None
    if not isinstance(start, datetime):
        raise ValueError(f"start must be a datetime, not {type(start).__name__}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
    if rule is Rule.CUSTOM:
        if custom is None:
            raise ValueError("rule CUSTOM needs custom=Custom(...)")
        if tz is not None and tz != custom.timezone:
            raise ValueError(f"rule CUSTOM counts in custom.timezone ({custom.timezone}), not tz={tz}")
        return _custom(start, custom)
    if custom is not None:
        raise ValueError(f"custom= is only for rule CUSTOM, not {rule.value}")
    if rule in ELAPSED_HOURS:
        return _elapsed(rule, start, _zone(tz or "UTC"))
    if rule is Rule.NIS2_FINAL_REPORT:
        return _nis2_final_report(start, _zone(tz or NIS2_FINAL_REPORT_DEFAULT_TZ))
    if rule is Rule.SEC_8K:
        if tz is not None and tz != SEC_8K_TZ:
            raise ValueError(f"SEC 8-K deadlines are counted in {SEC_8K_TZ}, not {tz}")
        return _sec_8k(start)
    return _hipaa(start, _zone(tz or HIPAA_DEFAULT_TZ))


def _elapsed(rule: Rule, start: datetime, zone: ZoneInfo) -> _Result:
    hours = ELAPSED_HOURS[rule]
    due = start.astimezone(UTC) + timedelta(hours=hours)
    return _Result(due, f"{hours} hours after awareness at {_fmt(start, zone)}: {_fmt(due, zone)}")


def _nis2_final_report(start: datetime, zone: ZoneInfo) -> _Result:
    local = start.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    last_day = calendar.monthrange(year, month)[1]
    target = date(year, month, min(local.day, last_day))
    due, moved = _at_wall_time(target, local.time(), zone)
    notes = ""
    if local.day > last_day:
        notes += f", the {_ordinal(local.day)} clamped to the last day of {target:%B}"
    notes += moved
    sentence = (
        f"1 month after submission of the incident notification at {_fmt(start, zone)} ({zone.key})"
        f"{notes}: {_fmt(due, zone)}"
    )
    return _Result(due, sentence)


def _sec_8k(start: datetime) -> _Result:
    zone = _zone(SEC_8K_TZ)
    day0 = start.astimezone(zone).date()
    due_date, skipped = _count_business_days(day0, SEC_8K_BUSINESS_DAYS, _business_calendar("US", None))
    due = datetime.combine(due_date, SEC_8K_CUTOFF, tzinfo=zone).astimezone(UTC)
    sentence = (
        f"{SEC_8K_BUSINESS_DAYS} business days after the materiality determination on {day0:%a %Y-%m-%d} "
        f"(New York){_skipping(skipped)}: {due.astimezone(zone):%a %Y-%m-%d %H:%M %Z}"
    )
    return _Result(due, sentence)


def _hipaa(start: datetime, zone: ZoneInfo) -> _Result:
    local = start.astimezone(zone)
    due, moved = _at_wall_time(local.date() + timedelta(days=HIPAA_CALENDAR_DAYS), local.time(), zone)
    sentence = (
        f"{HIPAA_CALENDAR_DAYS} calendar days after discovery at {_fmt(start, zone)} ({zone.key}){moved}: "
        f"{_fmt(due, zone)}"
    )
    return _Result(due, sentence)


def _custom(start: datetime, custom: Custom) -> _Result:
    zone = _zone(custom.timezone)
    if not custom.business_days:
        due = start.astimezone(UTC) + custom.duration
        sentence = (
            f"{_duration(custom.duration)} after the starting event at {_fmt(start, zone)} ({zone.key}): "
            f"{_fmt(due, zone)}"
        )
        return _Result(due, sentence)
    local = start.astimezone(zone)
    days = custom.duration.days
    country = custom.holiday_country
    due_date, skipped = _count_business_days(local.date(), days, _business_calendar(country, None))
    due, moved = _at_wall_time(due_date, local.time(), zone)
    which = f"{country} public holidays" if country else "weekends only"
    sentence = (
        f"{_plural(days, 'business day')} ({which}) after the starting event on {local:%a %Y-%m-%d} "
        f"({zone.key}){_skipping(skipped)}{moved}: {due.astimezone(zone):%a %Y-%m-%d %H:%M %Z}"
    )
    return _Result(due, sentence)


def _count_business_days(start_date: date, days: int, cal: _BusinessCalendar) -> tuple[date, list[tuple[date, str]]]:
    """(the date ``days`` business days after ``start_date``, the days skipped on the way with their reason)."""
    if isinstance(start_date, datetime) or not isinstance(start_date, date):
        raise ValueError(f"start_date must be a date (the local date of the start), got {start_date!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number of at least 1, got {days!r}")
    day, counted, skipped = start_date, 0, []
    while counted < days:
        day += timedelta(days=1)
        reason = cal.skip_reason(day)
        if reason is None:
            counted += 1
        else:
            skipped.append((day, reason))
    return day, skipped


def _business_calendar(country: str, subdiv: str | None) -> _BusinessCalendar:
    return _BusinessCalendar(_holiday_calendar(country, subdiv) if country else None)


def _holiday_calendar(country: str, subdiv: str | None) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError:
        raise ValueError(f"unknown holiday country/subdivision {country!r}/{subdiv!r}") from None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


def _at_wall_time(day: date, wall: time, zone: ZoneInfo) -> tuple[datetime, str]:
    """The UTC instant at which ``zone`` shows ``day`` ``wall``, and a note for `explain` if it had to move.

    Ambiguous (fall-back): the first occurrence (fold=0). Non-existent (spring-forward gap): the first
    instant after the gap, i.e. the moment of the clock change.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    candidate = naive.replace(tzinfo=zone)
    if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return candidate.astimezone(UTC), ""
    # In a gap: fold=1 reads the wall time with the offset after the change, fold=0 with the one before,
    # so the change lies between those two UTC instants. Local time runs forward across a gap, so search
    # for the first whole second whose local wall time is at or past the requested one.
    low = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    high = int(candidate.timestamp()) + 1
    while low < high:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= naive:
            high = mid
        else:
            low = mid + 1
    due = datetime.fromtimestamp(low, UTC)
    local = due.astimezone(zone)
    note = f", {wall:%H:%M} not existing on {day:%Y-%m-%d} (clocks go forward), moved to {local:%H:%M %Z}"
    return due, note


def _fmt(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    if local.second or local.microsecond:
        return f"{local:%Y-%m-%d %H:%M:%S %Z}"
    return f"{local:%Y-%m-%d %H:%M %Z}"


def _skipping(skipped: list[tuple[date, str]]) -> str:
    if not skipped:
        return ""
    days = [f"{day:%a %m-%d}" + (f" ({reason})" if reason else "") for day, reason in skipped]
    return ", skipping " + ", ".join(days)


def _duration(duration: timedelta) -> str:
    """ "3 days", "36 hours", "90 minutes"; anything finer in seconds."""
    seconds = duration.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            return _plural(int(seconds // size), unit)
    return f"{seconds:g} seconds"


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
