"""The consumer hands reservation ids to the gate's scripts one a line (adapters/gate.py)."""

import pytest

from coupon_service.adapters.gate import script_lines


def test_ids_go_one_a_line_in_order():
    assert script_lines(["7.1.a.b", "7.2.c-d_e.f"]) == "7.1.a.b\n7.2.c-d_e.f"
    assert script_lines([]) == ""


@pytest.mark.parametrize("ids", [["7.1.a.b", "forged\n7.2.c.d"], ["7.1.a.b", ""], ["\n"]])
def test_an_id_the_api_never_makes_is_refused_before_redis_sees_it(ids):
    with pytest.raises(ValueError):
        script_lines(ids)
