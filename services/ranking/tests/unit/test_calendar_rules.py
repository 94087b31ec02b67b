"""Calendar days in APP_ZONE (SPEC.md: popular products count calendar days in Asia/Seoul)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ranking_service.domain.calendar import Window, day_bounds, day_of, seconds_until_next_midnight

SEOUL = ZoneInfo("Asia/Seoul")
TODAY = date(2024, 3, 10)


def test_a_utc_instant_falls_on_its_calendar_date_in_seoul():
    # Seoul is UTC+9 all year: 15:00 UTC is midnight there.
    assert day_of(datetime(2024, 3, 9, 14, 59, 59, tzinfo=UTC), SEOUL) == date(2024, 3, 9)
    assert day_of(datetime(2024, 3, 9, 15, 0, 0, tzinfo=UTC), SEOUL) == date(2024, 3, 10)
    assert day_of(datetime(2024, 3, 10, 8, 0, tzinfo=UTC), SEOUL) == date(2024, 3, 10)


def test_an_instant_without_an_offset_is_refused():
    with pytest.raises(ValueError):
        day_of(datetime(2024, 3, 9, 12, 0), SEOUL)


def test_a_seoul_day_runs_from_15_00_utc_the_day_before():
    start, end = day_bounds(TODAY, SEOUL)
    assert start == datetime(2024, 3, 9, 15, 0, tzinfo=UTC)
    assert end == datetime(2024, 3, 10, 15, 0, tzinfo=UTC)


def test_the_bounds_of_a_day_are_exactly_the_instants_of_that_day_even_across_a_dst_change():
    new_york = ZoneInfo("America/New_York")
    spring_forward = date(2024, 3, 10)
    start, end = day_bounds(spring_forward, new_york)
    assert end - start == timedelta(hours=23)
    assert day_of(start, new_york) == spring_forward
    assert day_of(start - timedelta(microseconds=1), new_york) == spring_forward - timedelta(days=1)
    assert day_of(end - timedelta(microseconds=1), new_york) == spring_forward
    assert day_of(end, new_york) == spring_forward + timedelta(days=1)


def test_one_day_is_today_alone_and_three_days_are_today_and_the_two_before():
    assert Window.last_days(1, TODAY) == Window(TODAY, TODAY)
    assert Window.last_days(3, TODAY) == Window(date(2024, 3, 8), TODAY)
    assert Window.last_days(3, TODAY).days() == [date(2024, 3, 8), date(2024, 3, 9), TODAY]
    assert len(Window.last_days(30, TODAY).days()) == 30


def test_a_sale_at_23_59_59_is_yesterdays_and_one_at_midnight_is_todays():
    last_second = datetime(2024, 3, 9, 23, 59, 59, tzinfo=SEOUL).astimezone(UTC)
    midnight = datetime(2024, 3, 10, 0, 0, 0, tzinfo=SEOUL).astimezone(UTC)
    one_day, three_days = Window.last_days(1, TODAY), Window.last_days(3, TODAY)
    assert day_of(last_second, SEOUL) not in one_day
    assert day_of(last_second, SEOUL) in three_days
    assert day_of(midnight, SEOUL) in one_day
    assert day_of(midnight, SEOUL) in three_days


def test_the_day_before_the_window_and_the_day_after_are_outside_it():
    window = Window.last_days(3, TODAY)
    assert date(2024, 3, 7) not in window
    assert date(2024, 3, 11) not in window


@pytest.mark.parametrize("days", [0, -1, 31, 365])
def test_days_outside_1_to_30_are_refused(days):
    with pytest.raises(ValueError):
        Window.last_days(days, TODAY)


def test_the_next_midnight_in_seoul():
    ten_pm_in_seoul = datetime(2024, 3, 10, 13, 0, tzinfo=UTC)
    assert seconds_until_next_midnight(ten_pm_in_seoul, SEOUL) == 2 * 3600
    just_after_midnight = datetime(2024, 3, 10, 15, 0, 1, tzinfo=UTC)
    assert seconds_until_next_midnight(just_after_midnight, SEOUL) == 24 * 3600 - 1
