"""Test support shared by every service: real PostgreSQL, Redis and Kafka, one switch.

`TEST_INFRA=auto|docker|local` (default auto): containers from testcontainers where a Docker engine
answers, otherwise this machine's own servers (started by `make infra`, at the addresses of API.md's
configuration variables). Each test session gets a fresh database, a Redis db of its own and
topic names with a fresh prefix, so tests never disturb a running `make run` and reruns start clean.
"""

from commerce_kit.testing.topics import topics_of_its_own
from commerce_kit.testing.waiting import eventually

__all__ = ["eventually", "topics_of_its_own"]
