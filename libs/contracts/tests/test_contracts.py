"""The contracts' promises: old events still parse, unknown fields are tolerated, the published
schemas are current, and every event names its Kafka key."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commerce_contracts import TOPICS, UndecodableEvent, decode_event, encode_event, event_types
from commerce_contracts.events.coupon_issue import CouponIssueRequested
from commerce_contracts.events.payments import PaymentCompleted
from commerce_contracts.export import render

HERE = Path(__file__).parent
EXAMPLES = sorted((HERE / "examples").glob("*.json"))
SCHEMAS = HERE.parent / "schemas"


def test_every_event_type_has_a_frozen_example():
    assert {p.name.split(".")[0] for p in EXAMPLES} == set(event_types())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_event_written_by_an_older_producer_still_parses_without_losing_data(path):
    raw = json.loads(path.read_text())
    cls = event_types()[raw["type"]]
    event = decode_event(path.read_bytes(), cls)
    again = json.loads(event.model_dump_json())
    assert_survives(raw, again)  # every field of the old event survives a round trip


def assert_survives(old, new, where="event"):
    """`new` holds everything `old` held (fields added since may come on top)."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for key, value in old.items():
            assert key in new, f"{where}.{key} was lost"
            assert_survives(value, new[key], f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            assert_survives(a, b, f"{where}[{i}]")
    else:
        assert old == new, f"{where}: {old!r} became {new!r}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_a_consumer_tolerates_fields_added_by_a_newer_producer(path):
    raw = json.loads(path.read_text()) | {"a_field_added_later": {"nested": [1, 2]}}
    cls = event_types()[raw["type"]]
    assert decode_event(json.dumps(raw), cls).event_id is not None


def test_the_published_schemas_are_current():
    stale = [
        name
        for name, text in render().items()
        if not (SCHEMAS / name).exists() or (SCHEMAS / name).read_text() != text
    ]
    assert not stale, f"run `make contracts` and commit the result: {stale}"


def test_the_asyncapi_document_lists_every_topic_and_its_dead_letter_topic():
    doc = json.loads((SCHEMAS / "asyncapi.json").read_text())
    assert set(doc["channels"]) == {t.name for t in TOPICS}
    for topic in TOPICS:
        assert topic.dead_letter in doc["channels"][topic.name]["description"]


def test_events_are_keyed_by_their_aggregate():
    coupon = json.loads((HERE / "examples" / "CouponIssueRequested.v1.json").read_text())
    assert decode_event(json.dumps(coupon), CouponIssueRequested).key == str(coupon["coupon_id"])
    paid = json.loads((HERE / "examples" / "PaymentCompleted.v1.json").read_text())
    assert decode_event(json.dumps(paid), PaymentCompleted).key == str(paid["order_id"])


def test_an_event_round_trips_through_bytes():
    event = decode_event((HERE / "examples" / "PaymentCompleted.v1.json").read_bytes(), PaymentCompleted)
    assert decode_event(encode_event(event), PaymentCompleted) == event


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{}",
        b'{"type": "SomethingElse"}',
        b'{"type": "PaymentCompleted", "version": 2}',
        b'{"type": "PaymentCompleted", "payment_id": "x"}',
        b"[]",
        b'"PaymentCompleted"',
        b'{"type": 5}',
        b'{"type": "PaymentCompleted", "version": "1"}',
        b'{"type": "PaymentCompleted", "version": true}',
        b'{"type": "PaymentCompleted", "version": 1, "payment_id": 1, "order_id": 1, "user_id": 1,'
        b' "amount": -5, "items": [], "paid_at": "2026-01-01T00:00:00Z"}',
    ],
)
def test_what_is_not_a_valid_event_is_undecodable(raw):
    with pytest.raises(UndecodableEvent):
        decode_event(raw, PaymentCompleted)


def test_the_envelope_fills_type_and_version_and_insists_on_aware_times():
    from datetime import datetime

    from pydantic import ValidationError

    event = CouponIssueRequested(
        reservation_id="r",
        user_id=1,
        coupon_id=2,
        requested_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    )
    assert event.type == "CouponIssueRequested"
    assert event.version == 1
    with pytest.raises(ValidationError):
        CouponIssueRequested(reservation_id="r", user_id=1, coupon_id=2, requested_at=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "requested_at",
    [
        datetime.now(UTC),
        datetime(2026, 1, 1, tzinfo=UTC),  # no microseconds: written without them, like the model
        datetime(2026, 1, 1, 5, 0, 0, 123, tzinfo=UTC),
    ],
)
def test_the_issue_routes_encoding_is_the_models(requested_at):
    from commerce_contracts.events.coupon_issue import encode_issue_requested

    raw = encode_issue_requested(
        reservation_id="7.42.nonce.mac", user_id=42, coupon_id=7, requested_at=requested_at
    )
    event = decode_event(raw, CouponIssueRequested)
    assert (event.reservation_id, event.user_id, event.coupon_id) == ("7.42.nonce.mac", 42, 7)
    assert event.requested_at == requested_at and event.key == "7"
    same = CouponIssueRequested(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        reservation_id="7.42.nonce.mac",
        user_id=42,
        coupon_id=7,
        requested_at=requested_at,
    )
    assert raw == encode_event(same)
    # A fresh event each time.
    again = encode_issue_requested(
        reservation_id="7.42.nonce.mac", user_id=42, coupon_id=7, requested_at=requested_at
    )
    assert decode_event(again, CouponIssueRequested).event_id != event.event_id
