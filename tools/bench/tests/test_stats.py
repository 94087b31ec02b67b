import math

import pytest

from bench.stats import Answers, Latency, format_errors, percentile


def test_nearest_rank_percentiles_are_measured_values():
    values = sorted(float(v) for v in range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1


def test_a_small_sample_rounds_the_rank_up():
    values = [1.0, 2.0, 3.0]
    assert percentile(values, 50) == 2.0  # rank ceil(1.5) = 2
    assert percentile(values, 99) == 3.0
    assert percentile([7.0], 99) == 7.0


def test_no_samples_give_nan_and_bad_percentiles_are_refused():
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_sorts_its_samples():
    lat = Latency.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (lat.count, lat.p50, lat.p99, lat.max, lat.mean) == (5, 3.0, 5.0, 5.0, 3.0)
    assert math.isnan(Latency.of([]).p99)


def test_expected_statuses_are_not_errors_and_errors_keep_their_kind():
    answers = Answers()
    answers.add_status(202, 900)
    answers.add_status(200, 50)
    answers.add_status(409, 40)
    answers.add_status(500, 3)
    answers.add_transport("timeout", 2)
    answers.add_transport("read", 0)
    assert answers.total == 995
    assert answers.ok(expected=[409]) == 990
    assert answers.errors(expected=[409]) == {"500": 3, "timeout": 2}
    assert answers.errors() == {"409": 40, "500": 3, "timeout": 2}
    assert format_errors(answers.errors([409])) == "500:3 timeout:2"
    assert format_errors({}) == "-"


def test_answers_survive_a_round_trip_through_json():
    answers = Answers()
    answers.add_status(201, 10)
    answers.add_transport("connect", 1)
    again = Answers.from_dict(answers.as_dict())
    assert again.statuses == answers.statuses and again.transport == answers.transport
