"""Fault tests (issue "Faults, abuse, N instances and deployment"): the whole suite started by
devstack, real PostgreSQL, Redis and Kafka, load through the gateway, a fault injected while the
load runs, then SPEC.md's invariants once the suite has recovered. See docs/reliability.md.

Every test is marked `faults` (`make test-faults` runs them all); the ones `make test` leaves out
are also marked `faults_full`. The servers: the shared PostgreSQL (TEST_INFRA, as every test uses
it: a fresh database per suite), a Kafka broker of this session's own (a test that stops Kafka
starts one of its own), and a Redis server of each suite's own, so that flushing or stopping them
disturbs nobody else."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The end-to-end tests' vocabulary (shop.py) and the payment saga's invariants (saga_invariants.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from stack import last_lines, own_kafka

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: a fault-injection test of tests/faults (make test-faults)")
    config.addinivalue_line(
        "markers", "faults_full: a fault test `make test` leaves out (docs/reliability.md says which)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failed fault test's report carries what the services of the running suites said last
    (the errors behind an unclean answer are in there)."""
    report = yield
    if report.failed and call.when == "call":
        report.sections.append(("the services' last lines", last_lines()))
    return report


@pytest.fixture(scope="session")
def postgres_url(infra) -> str:
    """The shared PostgreSQL server (the kit plugin's `infra`); each suite gets a fresh database."""
    return infra.postgres_url


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka broker of the fault session's own: suites killed mid-flight leave consumer-group
    members behind for a session timeout, and nobody else's groups should wait for them."""
    broker = own_kafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield f"{broker.host}:{broker.port}"
    finally:
        broker.stop()
