from bench.report.table import Line, ratio, render, verdicts
from bench.stats import Latency


def lines():
    return [
        Line("health.coupon", "coupon /health/coupon/live", "baselines", rate=8000.0),
        Line(
            "coupon.accept",
            "coupon issue: 202 path",
            "coupon",
            rate=6000.0,
            unit="202/s",
            baseline="health.coupon",
            target=0.7,
            latency=Latency(100, 2.0, 10.0, 40.0, 90.0, 3.0),
            latency_rate=3000.0,
        ),
        Line(
            "browse.list",
            "product list",
            "browse",
            rate=2000.0,
            baseline="health.coupon",
            target=0.6,
            latency=Latency(100, 20.0, 90.0, 150.0, 300.0, 30.0),
            latency_rate=1000.0,
            errors={"500": 2},
        ),
        Line(
            "browse.popular",
            "popular products",
            "browse",
            baseline="health.ranking",
            target=0.8,
            skipped="the ranking service is not in devstack's SUITE yet",
        ),
        Line(
            "gateway.ping",
            "gateway ping",
            "baselines",
            rate=60000.0,
            latency=Latency(100, 0.3, 1.0, 2.0, 5.0, 0.4),
            latency_rate=5000.0,
            half_rate=False,
        ),
    ]


def test_ratio_is_the_ceiling_over_the_baseline_s_when_both_were_measured():
    ls = lines()
    assert ratio(ls[1], ls) == 0.75
    assert ratio(ls[2], ls) == 0.25
    assert ratio(ls[0], ls) is None  # no baseline
    assert ratio(ls[3], ls) is None  # its baseline did not run


def test_each_target_is_marked_met_or_missed():
    ls = lines()
    assert verdicts(ls[1], ls) == [">=0.7x met", "p99<100ms met"]
    assert verdicts(ls[2], ls) == [">=0.6x MISSED", "p99<100ms MISSED"]
    assert verdicts(ls[4], ls) == ["p99<100ms met*"]  # measured below half the ceiling


def test_the_table_has_a_row_per_line_and_says_why_one_was_skipped():
    text = render(lines(), notes=["provisional"])
    rows = [r for r in text.splitlines() if r.startswith("| ")]
    assert len(rows) == 1 + 5  # header + lines
    assert "0.75x" in text and ">=0.6x MISSED" in text and "500:2" in text
    assert "skipped: the ranking service is not in devstack's SUITE yet" in text
    assert "5,000*" in text  # the rate, marked: not half the ceiling
    assert text.rstrip().endswith("- provisional")
