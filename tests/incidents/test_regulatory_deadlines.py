"""Regulatory deadline arithmetic, table-driven. Every expected due time is written out and was worked out
by hand from a calendar (2026: Jan 1 Thu, Mar 8 US DST starts, Mar 29 EU DST starts, Oct 25 EU DST ends,
Nov 1 US DST ends; 2027: Easter Sun Mar 28, EU DST starts Mar 28), never computed by the module.
Pure functions: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from incidents.regulatory.deadlines import Custom, Rule, business_days_after, due_at, explain

BRUSSELS = ZoneInfo("Europe/Brussels")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- GDPR Art. 33(1) and NIS2 Art. 23(4)(a)/(b): elapsed hours -----------------------------------------

ELAPSED = [
    # (rule, start, due in UTC, due's wall time in Brussels)
    # spring forward 2026-03-29: 10:00 CET + 72 h is 11:00 CEST (wall time moves one hour later)
    (Rule.GDPR, datetime(2026, 3, 27, 10, 0, tzinfo=BRUSSELS), utc(2026, 3, 30, 9, 0), "2026-03-30 11:00"),
    # fall back 2026-10-25: 10:00 CEST + 72 h is 09:00 CET (wall time moves one hour earlier)
    (Rule.GDPR, datetime(2026, 10, 23, 10, 0, tzinfo=BRUSSELS), utc(2026, 10, 26, 8, 0), "2026-10-26 09:00"),
    (Rule.GDPR, utc(2026, 5, 4, 13, 15), utc(2026, 5, 7, 13, 15), "2026-05-07 15:15"),
    (Rule.NIS2_EARLY_WARNING, utc(2026, 5, 4, 13, 15), utc(2026, 5, 5, 13, 15), "2026-05-05 15:15"),
    (Rule.NIS2_NOTIFICATION, utc(2026, 5, 4, 13, 15), utc(2026, 5, 7, 13, 15), "2026-05-07 15:15"),
    # the early warning across the spring change: 12:00 CET + 24 h is 13:00 CEST
    (
        Rule.NIS2_EARLY_WARNING,
        datetime(2026, 3, 28, 12, 0, tzinfo=BRUSSELS),
        utc(2026, 3, 29, 11, 0),
        "2026-03-29 13:00",
    ),
    (
        Rule.NIS2_NOTIFICATION,
        datetime(2026, 10, 24, 12, 0, tzinfo=BRUSSELS),
        utc(2026, 10, 27, 10, 0),
        "2026-10-27 11:00",
    ),
]


@pytest.mark.parametrize(("rule", "start", "expected", "brussels_wall"), ELAPSED)
def test_elapsed_hour_rules(rule: Rule, start: datetime, expected: datetime, brussels_wall: str) -> None:
    due = due_at(rule, start)
    assert due == expected
    assert due.tzinfo is UTC
    assert f"{due.astimezone(BRUSSELS):%Y-%m-%d %H:%M}" == brussels_wall
    hours = {Rule.GDPR: 72, Rule.NIS2_EARLY_WARNING: 24, Rule.NIS2_NOTIFICATION: 72}[rule]
    assert due - start == timedelta(hours=hours)


def test_elapsed_rules_ignore_tz_for_the_result() -> None:
    start = datetime(2026, 3, 27, 10, 0, tzinfo=BRUSSELS)
    assert due_at("gdpr", start, tz="America/New_York") == utc(2026, 3, 30, 9, 0)


# --- NIS2 Art. 23(4)(d): one calendar month after the notification was submitted -----------------------

NIS2_FINAL = [
    # (submitted, tz, due in UTC)
    (datetime(2026, 5, 12, 14, 0, tzinfo=BRUSSELS), None, utc(2026, 6, 12, 12, 0)),  # normal month, CEST both
    (datetime(2027, 1, 31, 10, 0, tzinfo=BRUSSELS), None, utc(2027, 2, 28, 9, 0)),  # Jan 31 -> Feb 28
    (datetime(2028, 1, 31, 10, 0, tzinfo=BRUSSELS), None, utc(2028, 2, 29, 9, 0)),  # leap year: Feb 29
    (datetime(2026, 12, 15, 9, 0, tzinfo=BRUSSELS), None, utc(2027, 1, 15, 8, 0)),  # over the year end
    (datetime(2026, 8, 31, 9, 0, tzinfo=BRUSSELS), None, utc(2026, 9, 30, 7, 0)),  # Aug 31 -> Sep 30
    # across spring DST: 10:00 CET (09:00 UTC) -> 10:00 CEST (08:00 UTC)
    (datetime(2026, 3, 10, 10, 0, tzinfo=BRUSSELS), None, utc(2026, 4, 10, 8, 0)),
    # across autumn DST: 10:00 CEST (08:00 UTC) -> 10:00 CET (09:00 UTC)
    (datetime(2026, 10, 10, 10, 0, tzinfo=BRUSSELS), None, utc(2026, 11, 10, 9, 0)),
    # 02:30 on 2027-03-28 does not exist in Brussels (02:00 CET -> 03:00 CEST at 01:00 UTC): the first
    # instant that exists is 03:00 CEST = 01:00 UTC
    (datetime(2027, 2, 28, 2, 30, tzinfo=BRUSSELS), None, utc(2027, 3, 28, 1, 0)),
    # 02:30 on 2026-10-25 happens twice (CEST at 00:30 UTC, CET at 01:30 UTC): the first
    (datetime(2026, 9, 25, 2, 30, tzinfo=BRUSSELS), None, utc(2026, 10, 25, 0, 30)),
    # the zone decides the month: 23:30 UTC on Jan 30 is already Jan 31 in Brussels
    (utc(2026, 1, 30, 23, 30), None, utc(2026, 2, 27, 23, 30)),  # Jan 31 00:30 CET -> Feb 28 00:30 CET
    (utc(2026, 1, 30, 23, 30), "UTC", utc(2026, 2, 28, 23, 30)),  # Jan 30 -> Feb 28 (clamped from 30)
]


@pytest.mark.parametrize(("submitted", "tz", "expected"), NIS2_FINAL)
def test_nis2_final_report(submitted: datetime, tz: str | None, expected: datetime) -> None:
    due = due_at(Rule.NIS2_FINAL_REPORT, submitted, tz=tz)
    assert due == expected
    assert due.tzinfo is UTC


# --- SEC Form 8-K Item 1.05: four business days, New York, US federal holidays, 17:30 ET cut-off ------

SEC_8K = [
    # (determination, due in UTC); 17:30 EDT = 21:30 UTC, 17:30 EST = 22:30 UTC
    (datetime(2026, 5, 4, 10, 0, tzinfo=NEW_YORK), utc(2026, 5, 8, 21, 30)),  # Mon -> Fri, EDT
    (datetime(2026, 2, 2, 10, 0, tzinfo=NEW_YORK), utc(2026, 2, 6, 22, 30)),  # Mon -> Fri, EST
    (datetime(2026, 5, 6, 10, 0, tzinfo=NEW_YORK), utc(2026, 5, 12, 21, 30)),  # Wed -> Tue over the weekend
    # US DST starts Sun 2026-03-08: Thu Mar 5 (EST) -> Wed Mar 11 17:30 EDT
    (datetime(2026, 3, 5, 10, 0, tzinfo=NEW_YORK), utc(2026, 3, 11, 21, 30)),
    # Thanksgiving Thu 11-26 skipped, the day after (Fri 11-27) is a business day: Mon 11-23 -> Mon 11-30
    (datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK), utc(2026, 11, 30, 22, 30)),
    # Wed 11-25: Fri 27, Mon 30, Tue 1, Wed 2
    (datetime(2026, 11, 25, 10, 0, tzinfo=NEW_YORK), utc(2026, 12, 2, 22, 30)),
    # determined on Thanksgiving itself: day 0 is still Nov 26; Fri 27, Mon 30, Tue 1, Wed 2
    (datetime(2026, 11, 26, 10, 0, tzinfo=NEW_YORK), utc(2026, 12, 2, 22, 30)),
    # Christmas Fri 12-25: Wed 12-23 -> Thu 24, Mon 28, Tue 29, Wed 30
    (datetime(2026, 12, 23, 10, 0, tzinfo=NEW_YORK), utc(2026, 12, 30, 22, 30)),
    # New Year Fri 2027-01-01: Tue 12-29 -> Wed 30, Thu 31, Mon Jan 4, Tue Jan 5
    (datetime(2026, 12, 29, 10, 0, tzinfo=NEW_YORK), utc(2027, 1, 5, 22, 30)),
    # Independence Day observed Fri 2026-07-03: Thu 07-02 -> Mon 6, Tue 7, Wed 8, Thu 9
    (datetime(2026, 7, 2, 10, 0, tzinfo=NEW_YORK), utc(2026, 7, 9, 21, 30)),
    # determined on Saturday 05-09 (day 0): Mon 11, Tue 12, Wed 13, Thu 14
    (datetime(2026, 5, 9, 11, 0, tzinfo=NEW_YORK), utc(2026, 5, 14, 21, 30)),
    # 23:30 EDT Thu 05-07 is Fri 03:30 UTC; the New York date (Thu) is day 0: Fri 8, Mon 11, Tue 12, Wed 13
    (utc(2026, 5, 8, 3, 30), utc(2026, 5, 13, 21, 30)),
    # determined after the cut-off, 19:00 ET: still day 0 that date
    (datetime(2026, 5, 4, 19, 0, tzinfo=NEW_YORK), utc(2026, 5, 8, 21, 30)),
]


@pytest.mark.parametrize(("determined", "expected"), SEC_8K)
def test_sec_8k(determined: datetime, expected: datetime) -> None:
    due = due_at(Rule.SEC_8K, determined)
    assert due == expected
    assert due.tzinfo is UTC
    assert f"{due.astimezone(NEW_YORK):%H:%M}" == "17:30"


BUSINESS_DAYS = [
    # (start, days, country, expected)
    (date(2026, 5, 4), 4, "US", date(2026, 5, 8)),
    (date(2026, 11, 25), 1, "US", date(2026, 11, 27)),  # over Thanksgiving
    (date(2026, 7, 4), 1, "US", date(2026, 7, 6)),  # start (a Saturday holiday) never counts
    (date(2026, 12, 31), 1, "US", date(2027, 1, 4)),
    (date(2027, 3, 25), 1, "DE", date(2027, 3, 30)),  # Good Friday, weekend, Easter Monday
    (date(2027, 3, 25), 1, "", date(2027, 3, 26)),  # weekends only: Good Friday counts
    (date(2026, 5, 8), 10, "US", date(2026, 5, 22)),
]


@pytest.mark.parametrize(("start", "days", "country", "expected"), BUSINESS_DAYS)
def test_business_days_after(start: date, days: int, country: str, expected: date) -> None:
    assert business_days_after(start, days, country=country) == expected


def test_business_days_after_subdivision() -> None:
    # Bavaria (DE-BY) keeps Epiphany, Wed 2027-01-06; Berlin does not
    assert business_days_after(date(2027, 1, 5), 1, country="DE", subdiv="BY") == date(2027, 1, 7)
    assert business_days_after(date(2027, 1, 5), 1, country="DE", subdiv="BE") == date(2027, 1, 6)


# --- HIPAA §164.404(b): 60 calendar days, same wall time ---------------------------------------------

HIPAA = [
    # (discovered, tz, due in UTC)
    # across US spring DST (2026-03-08): Feb 1 09:00 EST (14:00 UTC) -> Apr 2 09:00 EDT (13:00 UTC)
    (datetime(2026, 2, 1, 9, 0, tzinfo=NEW_YORK), None, utc(2026, 4, 2, 13, 0)),
    # across US autumn DST (2026-11-01): Sep 15 09:00 EDT (13:00 UTC) -> Nov 14 09:00 EST (14:00 UTC)
    (datetime(2026, 9, 15, 9, 0, tzinfo=NEW_YORK), None, utc(2026, 11, 14, 14, 0)),
    (datetime(2026, 5, 1, 9, 0, tzinfo=NEW_YORK), None, utc(2026, 6, 30, 13, 0)),
    # discovered 01:30 UTC on Feb 2 is still Feb 1 20:30 EST in New York -> Apr 2 20:30 EDT
    (utc(2026, 2, 2, 1, 30), None, utc(2026, 4, 3, 0, 30)),
    # counted in UTC when asked: Feb 2 01:30 -> Apr 3 01:30
    (utc(2026, 2, 2, 1, 30), "UTC", utc(2026, 4, 3, 1, 30)),
]


@pytest.mark.parametrize(("discovered", "tz", "expected"), HIPAA)
def test_hipaa(discovered: datetime, tz: str | None, expected: datetime) -> None:
    due = due_at(Rule.HIPAA, discovered, tz=tz)
    assert due == expected
    assert due.tzinfo is UTC


def test_hipaa_offset_differs_across_dst() -> None:
    start = datetime(2026, 2, 1, 9, 0, tzinfo=NEW_YORK)
    due = due_at(Rule.HIPAA, start)
    assert start.utcoffset() == timedelta(hours=-5)
    assert due.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-4)
    assert due - start == timedelta(days=60, hours=-1)


# --- custom regimes ----------------------------------------------------------------------------------

CUSTOM = [
    # (start, custom, due in UTC)
    # calendar: elapsed time, DST irrelevant (11:00 UTC + 36 h)
    (
        datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN),
        Custom(timedelta(hours=36), timezone="Europe/Berlin"),
        utc(2026, 3, 29, 23, 0),
    ),
    (datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN), Custom(timedelta(days=3)), utc(2026, 3, 30, 9, 0)),
    # business, DE holidays across Easter 2027 (Good Friday 03-26, Easter Monday 03-29) and the DST change:
    # Thu 03-25 09:00 CET -> Tue 30, Wed 31, Thu Apr 1 at 09:00 CEST = 07:00 UTC
    (
        datetime(2027, 3, 25, 9, 0, tzinfo=BERLIN),
        Custom(timedelta(days=3), business_days=True, timezone="Europe/Berlin", holiday_country="DE"),
        utc(2027, 4, 1, 7, 0),
    ),
    # the same, weekends only: Fri 26, Mon 29, Tue 30 at 09:00 CEST
    (
        datetime(2027, 3, 25, 9, 0, tzinfo=BERLIN),
        Custom(timedelta(days=3), business_days=True, timezone="Europe/Berlin"),
        utc(2027, 3, 30, 7, 0),
    ),
    # business in UTC by default, US holidays: Wed 2026-11-25 15:00 -> Fri 27, Mon 30 15:00 UTC
    (
        utc(2026, 11, 25, 15, 0),
        Custom(timedelta(days=2), business_days=True, holiday_country="US"),
        utc(2026, 11, 30, 15, 0),
    ),
]


@pytest.mark.parametrize(("start", "custom", "expected"), CUSTOM)
def test_custom(start: datetime, custom: Custom, expected: datetime) -> None:
    due = due_at(Rule.CUSTOM, start, custom=custom)
    assert due == expected
    assert due.tzinfo is UTC


INVALID_CUSTOM = [
    {"duration": timedelta(0)},
    {"duration": timedelta(days=-1)},
    {"duration": timedelta(hours=-3)},
    {"duration": timedelta(days=2, hours=3), "business_days": True},
    {"duration": timedelta(hours=12), "business_days": True},
    {"duration": 3},
    {"duration": timedelta(days=1), "timezone": "Mars/Olympus_Mons"},
    {"duration": timedelta(days=1), "business_days": True, "holiday_country": "XX"},
]


@pytest.mark.parametrize("kwargs", INVALID_CUSTOM)
def test_invalid_custom_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        due_at(Rule.CUSTOM, utc(2026, 5, 4, 9, 0), custom=Custom(**kwargs))


# --- bad arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", list(Rule))
def test_naive_start_is_refused(rule: Rule) -> None:
    custom = Custom(timedelta(days=1)) if rule is Rule.CUSTOM else None
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(rule, datetime(2026, 5, 4, 9, 0), custom=custom)
    with pytest.raises(ValueError, match="timezone-aware"):
        explain(rule, datetime(2026, 5, 4, 9, 0), custom=custom)


BAD_ARGUMENTS = [
    ("gdpr72", {}),  # unknown rule
    (Rule.CUSTOM, {}),  # custom missing
    (Rule.GDPR, {"custom": Custom(timedelta(days=1))}),  # custom on a statutory rule
    (Rule.CUSTOM, {"custom": Custom(timedelta(days=1)), "tz": "Europe/Berlin"}),  # zone belongs in Custom
    (Rule.SEC_8K, {"tz": "Europe/Brussels"}),  # SEC counts in New York
    (Rule.HIPAA, {"tz": "Nowhere/Special"}),  # unknown zone
]


@pytest.mark.parametrize(("rule", "kwargs"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused(rule: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        due_at(rule, utc(2026, 5, 4, 9, 0), **kwargs)


def test_custom_accepts_tz_equal_to_its_own_zone() -> None:
    custom = Custom(timedelta(days=3), business_days=True, timezone="Europe/Berlin", holiday_country="DE")
    start = datetime(2027, 3, 25, 9, 0, tzinfo=BERLIN)
    assert due_at(Rule.CUSTOM, start, custom=custom, tz="Europe/Berlin") == utc(2027, 4, 1, 7, 0)


def test_rule_accepts_its_string_value() -> None:
    assert due_at("sec_8k", utc(2026, 5, 4, 14, 0), tz="America/New_York") == utc(2026, 5, 8, 21, 30)


@pytest.mark.parametrize(
    ("start", "days"), [(date(2026, 5, 4), 0), (date(2026, 5, 4), -1), (datetime(2026, 5, 4, tzinfo=UTC), 1)]
)
def test_business_days_after_bad_arguments(start: date, days: int) -> None:
    with pytest.raises(ValueError):
        business_days_after(start, days)


def test_business_days_after_unknown_country() -> None:
    with pytest.raises(ValueError, match="unknown holiday country"):
        business_days_after(date(2026, 5, 4), 1, country="XX")


# --- explain -----------------------------------------------------------------------------------------

EXPLAIN = [
    (Rule.GDPR, utc(2026, 3, 27, 10, 0), {}, "72 hours after awareness at 2026-03-27 10:00 UTC: 2026-03-30 10:00 UTC"),
    (
        Rule.GDPR,
        utc(2026, 3, 27, 9, 0),
        {"tz": "Europe/Brussels"},
        "72 hours after awareness at 2026-03-27 10:00 CET: 2026-03-30 11:00 CEST",
    ),
    (
        Rule.NIS2_EARLY_WARNING,
        utc(2026, 5, 4, 13, 15),
        {},
        "24 hours after awareness at 2026-05-04 13:15 UTC: 2026-05-05 13:15 UTC",
    ),
    (
        Rule.SEC_8K,
        datetime(2026, 7, 2, 10, 0, tzinfo=NEW_YORK),
        {},
        "4 business days after the materiality determination on Thu 2026-07-02 (New York), skipping "
        "Fri 07-03 (Independence Day (observed)), Sat 07-04, Sun 07-05: Thu 2026-07-09 17:30 EDT",
    ),
    (
        Rule.SEC_8K,
        datetime(2026, 5, 4, 10, 0, tzinfo=NEW_YORK),
        {},
        "4 business days after the materiality determination on Mon 2026-05-04 (New York): Fri 2026-05-08 17:30 EDT",
    ),
    (
        Rule.NIS2_FINAL_REPORT,
        datetime(2027, 1, 31, 10, 0, tzinfo=BRUSSELS),
        {},
        "1 month after submission of the incident notification at 2027-01-31 10:00 CET (Europe/Brussels), "
        "the 31st clamped to the last day of February: 2027-02-28 10:00 CET",
    ),
    (
        Rule.NIS2_FINAL_REPORT,
        datetime(2027, 2, 28, 2, 30, tzinfo=BRUSSELS),
        {},
        "1 month after submission of the incident notification at 2027-02-28 02:30 CET (Europe/Brussels), "
        "02:30 not existing on 2027-03-28 (clocks go forward), moved to 03:00 CEST: 2027-03-28 03:00 CEST",
    ),
    (
        Rule.HIPAA,
        datetime(2026, 2, 1, 9, 0, tzinfo=NEW_YORK),
        {},
        "60 calendar days after discovery at 2026-02-01 09:00 EST (America/New_York): 2026-04-02 09:00 EDT",
    ),
    (
        Rule.CUSTOM,
        datetime(2027, 3, 25, 9, 0, tzinfo=BERLIN),
        {"custom": Custom(timedelta(days=3), business_days=True, timezone="Europe/Berlin", holiday_country="DE")},
        "3 business days (DE public holidays) after the starting event on Thu 2027-03-25 (Europe/Berlin), "
        "skipping Fri 03-26 (Good Friday), Sat 03-27, Sun 03-28, Mon 03-29 (Easter Monday): Thu 2027-04-01 09:00 CEST",
    ),
    (
        Rule.CUSTOM,
        datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN),
        {"custom": Custom(timedelta(hours=36), timezone="Europe/Berlin")},
        "36 hours after the starting event at 2026-03-28 12:00 CET (Europe/Berlin): 2026-03-30 01:00 CEST",
    ),
]


@pytest.mark.parametrize(("rule", "start", "kwargs", "expected"), EXPLAIN)
def test_explain(rule: Rule, start: datetime, kwargs: dict, expected: str) -> None:
    assert explain(rule, start, **kwargs) == expected
