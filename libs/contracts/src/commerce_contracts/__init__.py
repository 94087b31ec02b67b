"""Event contracts of the commerce suite.

Every event a service publishes is a pydantic model here, one module per topic, named in the past
tense. The envelope (`Event`) carries a stable `event_id`, `occurred_at`, the `type` and schema
`version`, and correlation ids; `key` is the aggregate id used as the Kafka message key.

Rules, checked by this package's tests:
- consumers tolerate fields they do not know (`extra="ignore"`);
- within a version only additive changes are allowed: the JSON Schema snapshots committed under
  `schemas/` must still be satisfied, and the example events under `tests/examples/` must still parse.
"""

from commerce_contracts.envelope import Event, UndecodableEvent, decode_event, encode_event, utc_now
from commerce_contracts.registry import TOPICS, Topic, event_types

__all__ = [
    "TOPICS",
    "Event",
    "Topic",
    "UndecodableEvent",
    "decode_event",
    "encode_event",
    "event_types",
    "utc_now",
]
