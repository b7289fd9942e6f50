"""Crontab schedules on engine time: the next time at or after which fields match.

A schedule is six fields, each the set of allowed values or None for any: minutes
(0-59), hours (0-23), days of month (1-31), months (1-12), days of week (0 Sunday - 6
Saturday) and seconds (0-59). Times are epoch milliseconds read in UTC (Esper uses the
JVM's time zone; run it in UTC to compare). Days of month and days of week must both
match when both are given.

Semantics: Esper 8 reference, 7.6.4 "timer:at" (the crontab parameters) and 4.2.6
"Context Conditions" (crontab start and end).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["Crontab"]

_UTC = timezone.utc
# A schedule that matches nothing (31 February) is searched this far, then given up.
_MAX_STEPS = 100_000


class Crontab:
    """One crontab schedule (see the module docs)."""

    __slots__ = ("minutes", "hours", "days", "months", "weekdays", "seconds")

    def __init__(self, fields: tuple) -> None:
        self.minutes, self.hours, self.days, self.months, self.weekdays, self.seconds = fields

    def matches(self, ms: int) -> bool:
        """Whether the second ``ms`` falls in matches (milliseconds must be 0)."""
        if ms % 1000:
            return False
        t = datetime.fromtimestamp(ms // 1000, _UTC)
        return self._fits(t)

    def _fits(self, t: datetime) -> bool:
        return ((self.months is None or t.month in self.months)
                and (self.days is None or t.day in self.days)
                and (self.weekdays is None or (t.weekday() + 1) % 7 in self.weekdays)
                and (self.hours is None or t.hour in self.hours)
                and (self.minutes is None or t.minute in self.minutes)
                and (self.seconds is None or t.second in self.seconds))

    def next_at_offset(self, ms: int) -> int | None:
        """The first matching second strictly after the second of ``ms``, plus the
        milliseconds of ``ms`` within its second (epoch ms), or None when the schedule
        matches nothing: a ``timer:at`` started at 10.001 s that matches every 10th second
        fires at 20.001 s, as Esper 8.9 computes it (verified by
        ``tests/cep/esper/test_esper_pattern_operators.py``)."""
        within = ms % 1000
        due = self.next_after(ms - within)
        return None if due is None else due + within

    def next_after(self, ms: int) -> int | None:
        """The first matching time strictly after ``ms`` (epoch ms), or None when the
        schedule matches nothing."""
        t = datetime.fromtimestamp(ms // 1000 + 1, _UTC)
        for _ in range(_MAX_STEPS):
            if self.months is not None and t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif (self.days is not None and t.day not in self.days) or \
                    (self.weekdays is not None and (t.weekday() + 1) % 7 not in self.weekdays):
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif self.hours is not None and t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif self.minutes is not None and t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif self.seconds is not None and t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return int(t.timestamp()) * 1000
        return None
