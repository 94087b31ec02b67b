from bench.cpu import brief, cores
from bench.flames import library, summary

MAIN = "<module> (coupon_service/__main__.py:19)"
ISSUE = "request_issue (coupon_service/entrypoints/issue.py:47)"
FOLDED = "\n".join(
    [
        f"{MAIN};run (asyncio/runners.py:118) 50",
        f"{MAIN};{ISSUE};execute (asyncpg/connection.py:377) 30",
        f"{MAIN};{ISSUE};send (starlette/routing.py:10) 20",
    ]
)


def test_frames_are_grouped_by_their_top_level_package():
    assert library("execute (asyncpg/connection.py:377)") == "asyncpg"
    assert library("_run_code (<frozen runpy>:88)") == "python"
    assert library("main (coupon_service/__main__.py:10)") == "coupon_service"


def test_the_summary_gives_shares_by_library_leaf_and_own_function(tmp_path):
    folded = tmp_path / "coupon.accept-coupon.folded"
    folded.write_text(FOLDED)
    text = summary(folded)
    assert "100 samples" in text
    assert " 50.0%  asyncio" in text and " 30.0%  asyncpg" in text and " 20.0%  starlette" in text
    assert " 50.0%  request_issue (coupon_service/entrypoints/issue.py:47)" in text


def test_cpu_cores_per_process_and_the_rest_of_the_machine():
    before = {"coupon": 0, "postgres (all)": 0, "machine": 0}
    after = {"coupon": 100, "postgres (all)": 50, "machine": 400}  # ticks (100 per second)
    used = cores(before, after, seconds=2.0)
    assert used == {"coupon": 0.5, "postgres (all)": 0.25, "others": 1.25}
    assert brief(used) == "others 1.25, coupon 0.50, postgres (all) 0.25"


def test_a_group_counts_the_processes_it_still_has_and_the_new_ones():
    before = {"postgres (all)": {10: 500, 11: 80}, "machine": 1000}
    after = {"postgres (all)": {10: 600, 12: 50}, "machine": 1400}  # 11 exited, 12 started
    used = cores(before, after, seconds=1.0)
    assert used == {"postgres (all)": 1.5, "others": 2.5}
