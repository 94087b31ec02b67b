"""A sale counts its quantities on its day; a refund takes exactly that back; names come from the
events' lines (SPEC.md section 6)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from commerce_contracts.events.payments import PaidLine, PaymentCompleted, PaymentRefunded
from ranking_service.domain.sales import Line, Sale, counts_by_day, latest_names
from ranking_service.entrypoints.consumers import sale_of

SEOUL = ZoneInfo("Asia/Seoul")
PAID = datetime(2024, 3, 9, 15, 30, tzinfo=UTC)  # 00:30 on 10 March in Seoul


def sale(*lines: Line, paid_at: datetime = PAID, payment_id: int = 1) -> Sale:
    return Sale(payment_id, 10, 100, paid_at, lines)


def test_a_sale_counts_on_the_calendar_day_of_its_payment_in_the_zone():
    assert sale(Line(1, 1)).day(SEOUL) == date(2024, 3, 10)
    assert sale(Line(1, 1)).day(ZoneInfo("UTC")) == date(2024, 3, 9)


def test_lines_of_one_product_are_summed_and_products_come_in_id_order():
    two_options = sale(Line(7, 2), Line(3, 1), Line(7, 5))
    assert two_options.counted() == ((3, 1), (7, 7))


def test_a_refund_takes_back_exactly_what_its_sale_counted():
    sold = sale(Line(7, 2), Line(3, 1), Line(7, 5))
    assert sold.uncounted() == ((3, -1), (7, -7))
    net: dict[int, int] = {}
    for product, delta in sold.counted() + sold.uncounted():
        net[product] = net.get(product, 0) + delta
    assert net == {3: 0, 7: 0}


@pytest.mark.parametrize("line", [(0, 1), (1, 0), (1, -2)])
def test_a_line_needs_a_product_and_a_positive_quantity(line):
    with pytest.raises(ValueError):
        Line(*line)


def test_a_sale_needs_a_line_and_instants_with_their_offset():
    with pytest.raises(ValueError):
        Sale(1, 2, 3, PAID, ())
    with pytest.raises(ValueError):
        Sale(1, 2, 3, datetime(2024, 3, 9, 12, 0), (Line(1, 1),))


def test_a_line_without_a_name_says_nothing_about_the_name():
    named = sale(Line(1, 1, "Tea"), Line(2, 1, None), Line(3, 1, ""))
    assert named.names() == {1: "Tea"}


def test_the_latest_sale_names_a_product_and_a_late_older_one_does_not_rename_it():
    older = sale(Line(1, 1, "Old tea"), Line(2, 1, "Cup"), payment_id=1)
    newer = sale(Line(1, 1, "New tea"), Line(2, 1, None), paid_at=PAID + timedelta(days=1), payment_id=2)
    expected = [(1, "New tea", PAID + timedelta(days=1)), (2, "Cup", PAID)]
    assert latest_names([older, newer]) == expected
    assert latest_names([newer, older]) == expected  # arrival order does not matter


def test_the_events_become_sales_with_their_names_and_the_refund_its_refunded_at():
    line = PaidLine(product_id=5, option_id=50, quantity=2, unit_price=900, product_name="Mug")
    paid = PaymentCompleted(payment_id=1, order_id=2, user_id=3, amount=1800, items=(line,), paid_at=PAID)
    refunded_at = PAID + timedelta(hours=2)
    refund = PaymentRefunded(
        payment_id=1, order_id=2, user_id=3, amount=1800, items=(line,), paid_at=PAID, refunded_at=refunded_at
    )
    assert sale_of(paid) == Sale(1, 2, 3, PAID, (Line(5, 2, "Mug"),))
    assert sale_of(refund) == Sale(1, 2, 3, PAID, (Line(5, 2, "Mug"),), refunded_at)
    assert sale_of(refund).refunded and not sale_of(paid).refunded


def test_a_batch_of_sales_adds_per_day_and_per_product_in_the_order_counters_are_locked():
    yesterday = PAID - timedelta(days=1)  # PAID is 10 March in Seoul, this the 9th
    batch = [
        sale(Line(7, 2), Line(3, 1), payment_id=1),
        sale(Line(3, 4), paid_at=yesterday, payment_id=2),
        sale(Line(7, 1), Line(5, 1), payment_id=3),
    ]
    assert counts_by_day(batch, SEOUL) == [
        (date(2024, 3, 9), ((3, 4),)),
        (date(2024, 3, 10), ((3, 1), (5, 1), (7, 3))),
    ]
    assert counts_by_day([], SEOUL) == []
