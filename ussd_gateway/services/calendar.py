"""The working-day calendar for reviewing link applications (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone


class WorkingCalendar:
    def __init__(
        self,
        *,
        holidays: Iterable[date] = (),
        weekend: Iterable[int] = (5, 6),
        working_weekends: Iterable[date] = (),
        utc_offset: timedelta = timedelta(0),
    ) -> None:
        self._holidays = frozenset(holidays)
        self._weekend = frozenset(weekend)
        self._working_weekends = frozenset(working_weekends)
        self._zone = timezone(utc_offset)

    def is_working_day(self, day: date) -> bool:
        if day in self._holidays:
            return False
        return day.weekday() not in self._weekend or day in self._working_weekends

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The moment ``days`` whole working days after ``start`` (aware; returned in UTC).

        Submitted on a working day, the same local time ``days`` working days later (Friday
        15:00 + 2 is Tuesday 15:00). Submitted on a day off, counting starts at the next
        working day's midnight (Saturday + 2 is Wednesday 00:00).
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if days < 0:
            raise ValueError("days must not be negative")
        local = start.astimezone(self._zone)
        day, clock = local.date(), local.time()
        if not self.is_working_day(day):
            day, clock = self.next_working_day(day), time(0)
        for _ in range(days):
            day = self.next_working_day(day)
        return datetime.combine(day, clock, tzinfo=self._zone).astimezone(UTC)

    def next_working_day(self, day: date) -> date:
        for _ in range(366):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError("no working day within a year: check the holidays and the weekend")
