"""Who gets a copy (domain.reservation.decide) and the signed reservation ids, without infrastructure."""

import pytest

from coupon_service.domain.reservation import Decision, Reason, Request, ReservationIds, decide


def req(rid: str, user: int, took: bool = True) -> Request:
    return Request(rid, user, took)


def summary(decisions: list[Decision]) -> list[tuple[str, bool, str | None, bool]]:
    return [
        (d.reservation_id, d.issued, d.reason.value if d.reason else None, d.gives_back_unit)
        for d in decisions
    ]


def test_the_first_requests_in_order_get_the_copies():
    decisions = decide([req("a", 1), req("b", 2), req("c", 3)], holders=set(), remaining=2)
    assert summary(decisions) == [
        ("a", True, None, False),
        ("b", True, None, False),
        ("c", False, "SOLD_OUT", True),
    ]


def test_a_request_the_gate_refused_is_sold_out_and_has_no_unit_to_give_back():
    decisions = decide([req("a", 1, took=False)], holders=set(), remaining=5)
    assert summary(decisions) == [("a", False, "SOLD_OUT", False)]


def test_a_user_who_holds_the_coupon_gets_no_second_copy_and_the_unit_goes_back():
    decisions = decide([req("a", 1), req("b", 2)], holders={1}, remaining=5)
    assert summary(decisions) == [("a", False, "ALREADY_ISSUED", True), ("b", True, None, False)]


def test_a_holder_asking_again_without_a_unit_is_told_already_issued_and_has_nothing_to_give_back():
    decisions = decide([req("a", 1, took=False), req("b", 2)], holders={1}, remaining=1)
    assert summary(decisions) == [("a", False, "ALREADY_ISSUED", False), ("b", True, None, False)]


def test_a_user_asking_twice_in_one_batch_wins_once_and_the_next_user_gets_the_copy():
    decisions = decide([req("a", 1), req("a2", 1), req("b", 2)], holders=set(), remaining=2)
    assert summary(decisions) == [
        ("a", True, None, False),
        ("a2", False, "ALREADY_ISSUED", True),
        ("b", True, None, False),
    ]


def test_a_reservation_delivered_twice_is_decided_once():
    decisions = decide([req("a", 1), req("a", 1), req("b", 2)], holders=set(), remaining=1)
    assert summary(decisions) == [("a", True, None, False), ("b", False, "SOLD_OUT", True)]


def test_nothing_is_issued_when_the_database_has_nothing_left_whatever_the_gate_said():
    decisions = decide([req("a", 1), req("b", 2)], holders=set(), remaining=0)
    assert [d.issued for d in decisions] == [False, False]
    assert all(d.reason is Reason.SOLD_OUT and d.gives_back_unit for d in decisions)


@pytest.mark.parametrize("remaining", [0, 1, 7, 50])
def test_never_more_copies_than_remaining_and_never_two_per_user(remaining):
    requests = [req(f"r{i}", i % 13, took=i % 5 != 0) for i in range(100)]
    decisions = decide(requests, holders={3}, remaining=remaining)
    winners = [d.user_id for d in decisions if d.issued]
    assert len(winners) == min(remaining, len({r.user_id for r in requests if r.took_unit} - {3}))
    assert len(winners) == len(set(winners)) and 3 not in winners


KEY = b"k" * 32


def test_a_reservation_id_names_its_coupon_and_user():
    ids = ReservationIds(KEY)
    rid = ids.new(5, 42)
    ref = ids.read(rid)
    assert ref is not None and (ref.coupon_id, ref.user_id) == (5, 42)
    assert ids.new(5, 42) != rid  # unguessable: a fresh nonce every time


@pytest.mark.parametrize(
    "tamper",
    [
        lambda rid: rid.replace("5.42.", "5.43.", 1),
        lambda rid: rid[:-2] + "AA",
        lambda rid: "not-an-id",
        lambda rid: rid + ".x",
        lambda rid: "x" * 200,
    ],
)
def test_a_forged_or_altered_reservation_id_is_not_ours(tamper):
    ids = ReservationIds(KEY)
    assert ids.read(tamper(ids.new(5, 42))) is None


def test_ids_signed_with_another_key_are_not_ours():
    assert ReservationIds(b"x" * 32).read(ReservationIds(KEY).new(1, 1)) is None
