"""Working-time arithmetic over a business calendar (docs/design.md §12): pure, no database.

A `WorkingTime` knows a calendar's weekly hours in its own time zone, its days off (`holidays`) and its make-up
working days (`workdays`, each following the hours of a named weekday). It answers when a duration of working
time started at a moment ends (`add`), the moment a duration of working time before another one (`back`), how
much working time lies between two moments (`between`) and which non-working periods lie between them (`gaps`),
each gap with its reason, so that due times can be explained.

All arithmetic is done on UTC instants: a working period is a local date and local clock times, turned into an
instant once (and remembered), so summer-time changes in the calendar's zone are counted as they are lived.
"""
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 20 * 366  # how far ahead or back a search for working time goes before giving up
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
FAR_PAST = datetime.min.replace(tzinfo=UTC)


def minutes(clock: str) -> int:
    """'09:30' -> 570; '24:00' is the end of the day (1440)."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


@dataclass(frozen=True)
class Gap:
    """A non-working period: `reason` is holiday (with the holiday's `name` where known), weekend (a day the week
    leaves without hours), break (between two working periods of one day) or off_hours (overnight and the like)."""
    start: datetime
    end: datetime
    reason: str
    name: str | None = None


class WorkingTime:
    """A calendar ready for arithmetic. `holidays` maps each day off to its name (or None); `workdays` maps each
    make-up working day to the weekday ('mon'…'sun') whose hours it follows."""

    def __init__(self, *, zone: str, week: dict[str, list[list[str]]], holidays: dict[date, str | None] | None = None,
                 workdays: dict[date, str] | None = None, name: str = "", calendar_id: int | None = None,
                 key: str | None = None, coverage_until: date | None = None):
        self.zone = ZoneInfo(zone)
        self.key = key
        self.zone_name = zone
        self.name = name
        self.calendar_id = calendar_id
        self.coverage_until = coverage_until
        self.week = {i: tuple(sorted((minutes(a), minutes(b)) for a, b in week.get(day) or [])) for i, day in enumerate(WEEKDAYS)}
        self.holidays = dict(holidays or {})
        self.workdays = {d: WEEKDAYS.index(as_) for d, as_ in (workdays or {}).items()}
        self._spans: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        if not any(self.week.values()):
            raise ValueError("a working week needs some working hours")

    # -- the days ---------------------------------------------------------------------------------------------------

    def hours_on(self, day: date) -> tuple[tuple[int, int], ...]:
        """The working periods of a local day, in minutes after midnight: a make-up day follows its weekday, a
        holiday has none, any other day has its weekday's."""
        if day in self.workdays:
            return self.week[self.workdays[day]]
        if day in self.holidays:
            return ()
        return self.week[day.weekday()]

    def spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working periods of a local day as UTC instants (remembered: re-planning asks for the same days often)."""
        known = self._spans.get(day)
        if known is None:
            known = self._spans[day] = tuple((self._instant(day, a), self._instant(day, b)) for a, b in self.hours_on(day))
        return known

    def _instant(self, day: date, minute: int) -> datetime:
        """A local day and minute ('24:00' is the next day's midnight) as a UTC instant, as lived in the zone."""
        day += timedelta(days=minute // 1440)
        minute %= 1440
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone).astimezone(UTC)

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    # -- arithmetic -------------------------------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of working time after `start` (a start outside working hours waits for the next
        working period; a duration that ends exactly at a period's end is due then, not at the next start)."""
        if duration <= timedelta(0):
            return start
        remaining = duration
        day = self._local_day(start) - timedelta(days=1)  # a period of the day before may run past midnight in UTC terms
        for _ in range(MAX_DAYS):
            for begin, end in self.spans(day):
                if end <= start:
                    continue
                begin = max(begin, start)
                if end - begin >= remaining:
                    return begin + remaining
                remaining -= end - begin
            day += timedelta(days=1)
        return FAR_FUTURE

    def back(self, end: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of working time before `end`."""
        if duration <= timedelta(0):
            return end
        remaining = duration
        day = self._local_day(end) + timedelta(days=1)
        for _ in range(MAX_DAYS):
            for begin, stop in reversed(self.spans(day)):
                if begin >= end:
                    continue
                stop = min(stop, end)
                if stop - begin >= remaining:
                    return stop - remaining
                remaining -= stop - begin
            day -= timedelta(days=1)
        return FAR_PAST

    def _periods(self, start: datetime, end: datetime):
        """The working periods overlapping [start, end), clipped to it, in order."""
        day = self._local_day(start) - timedelta(days=1)
        last = self._local_day(end) + timedelta(days=1)
        while day <= last:
            for begin, stop in self.spans(day):
                if stop > start and begin < end:
                    yield max(begin, start), min(stop, end)
            day += timedelta(days=1)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The working time between two moments (zero when `end` is not after `start`)."""
        if end <= start:
            return timedelta(0)
        return sum((stop - begin for begin, stop in self._periods(start, end)), timedelta(0))

    def gaps(self, start: datetime, end: datetime) -> list[Gap]:
        """The non-working periods between two moments, each with its reason."""
        found, cursor = [], start
        for begin, stop in self._periods(start, end):
            if begin > cursor:
                found.append(self._gap(cursor, begin))
            cursor = max(cursor, stop)
        if end > cursor:
            found.append(self._gap(cursor, end))
        return found

    def _gap(self, start: datetime, end: datetime) -> Gap:
        """Why [start, end) is not worked: a holiday inside it names it; else a whole day the week leaves free is
        a weekend; a gap inside one local day between its periods is a break; anything else is off hours."""
        first, last = self._local_day(start), self._local_day(end - timedelta(microseconds=1))
        day, weekend = first, False
        while day <= last:
            if day in self.holidays and day not in self.workdays:
                return Gap(start, end, "holiday", self.holidays[day])
            if not self.hours_on(day):
                weekend = True
            day += timedelta(days=1)
        if weekend:
            return Gap(start, end, "weekend")
        if first == last and any(stop <= start for _, stop in self.spans(first)) and any(begin >= end for begin, _ in self.spans(first)):
            return Gap(start, end, "break")
        return Gap(start, end, "off_hours")

    def uncovered(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end] reaches past the days the calendar's holiday data covers."""
        return self.coverage_until is not None and self._local_day(end) > self.coverage_until
