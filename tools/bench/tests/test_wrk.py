import pytest

from bench.wrk import parse, parse_text

WITH_JSON = """Running 4s test @ http://127.0.0.1:8080/api/v1/coupons/3/issue
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    20.10ms   10.00ms 200.00ms   90.00%
    Req/Sec     3.20k   400.00     4.00k    70.00%
  12800 requests in 4.00s, 2.10MB read
  Non-2xx or 3xx responses: 800
Requests/sec:   3200.00
Transfer/sec:    537.60KB
BENCH_JSON {"requests":12800,"duration_us":4000000,"bytes":2202009,"errors":{"connect":0,"read":2,"write":0,"status":800,"timeout":1},"latency_us":{"min":900,"max":200000,"mean":20100.0,"stdev":10000.0,"p50":18000,"p90":30000,"p95":41000,"p99":90000,"p999":150000},"statuses":{"202":11000,"200":1000,"409":800},"counted":true}
"""  # noqa: E501

PLAIN = """Running 10s test @ http://127.0.0.1:8080/gateway/ping
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.29ms    2.10ms  46.72ms   92.00%
    Req/Sec    33.80k     4.00k   40.00k    70.00%
  Latency Distribution
     50%  680.00us
     75%    1.10ms
     90%    2.50ms
     99%   14.32ms
  672070 requests in 10.00s, 100.00MB read
  Socket errors: connect 0, read 5, write 0, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:  67207.00
Transfer/sec:     10.00MB
"""


def test_the_json_line_gives_counts_latencies_in_ms_and_answers_by_status():
    result = parse(WITH_JSON)
    assert result.requests == 12800 and result.seconds == 4.0 and result.rps == 3200.0
    assert (result.latency.p50, result.latency.p95, result.latency.p99) == (18.0, 41.0, 90.0)
    assert result.answers.statuses[202] == 11000 and result.counted
    assert result.rate_of(202) == 2750.0
    assert result.answers.errors(expected=[409]) == {"read": 2, "timeout": 1}


def test_without_counting_only_wrk_s_non_2xx_count_is_known():
    line = WITH_JSON.splitlines()[-1].replace('"counted":true', '"counted":false')
    result = parse(line)
    assert result.answers.statuses[200] == 12000
    assert result.answers.errors() == {"non-2xx": 800, "read": 2, "timeout": 1}


def test_the_text_summary_is_read_when_the_script_printed_nothing():
    result = parse(PLAIN)
    assert result.requests == 672070 and result.seconds == 10.0
    assert result.latency.p50 == pytest.approx(0.68) and result.latency.p99 == pytest.approx(14.32)
    assert result.latency.max == pytest.approx(46.72)
    assert result.answers.errors() == {"non-2xx": 12, "read": 5, "timeout": 7}


def test_anything_else_is_refused():
    with pytest.raises(ValueError):
        parse_text("wrk: command not found")
