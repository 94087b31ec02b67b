"""Kafka through FastStream, made reliable, split by job:

- `consuming`: subscriptions (`Consumer`, `BatchConsumer`) as FastStream subscribers with typed
  handlers, decoded by FastStream's decoder hook, under FastStream's nack-on-error ack policy;
- `retry`: the policy every subscription follows (bounded retries, outages waited out, dead letters);
- `producing`: the producer of a broker, and `FastPublisher` for a route that publishes itself;
- `renewal`: the producer every publish goes through (the workaround for aiokafka#1017);
- `broker`: a service's Kafka, FastStream's consumer-only broker and its producer together;
- `topics`: topic administration.
"""

from commerce_kit.messaging.broker import Broker, create_broker, publish
from commerce_kit.messaging.consuming import (
    BatchConsumer,
    BatchDecoder,
    Consumer,
    DecodedBatch,
    EventDecoder,
    Subscription,
    report_lag,
    subscribe,
    subscribe_batch,
)
from commerce_kit.messaging.producing import FastPublisher, create_producer
from commerce_kit.messaging.renewal import RenewingProducer, is_producer_failure
from commerce_kit.messaging.retry import Failure, Permanent, Retry, RetryPolicy
from commerce_kit.messaging.topics import delete_topics, ensure_topics, suite_topics

__all__ = [
    "BatchConsumer",
    "BatchDecoder",
    "Broker",
    "Consumer",
    "DecodedBatch",
    "EventDecoder",
    "Failure",
    "FastPublisher",
    "Permanent",
    "RenewingProducer",
    "Retry",
    "RetryPolicy",
    "Subscription",
    "create_broker",
    "create_producer",
    "delete_topics",
    "ensure_topics",
    "is_producer_failure",
    "publish",
    "report_lag",
    "subscribe",
    "subscribe_batch",
    "suite_topics",
]
