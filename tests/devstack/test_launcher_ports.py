"""The launcher's own choice of a port (the data-platform stand-in's) never lands on one of the
suite's ports, which are not bound yet when it is chosen. No process is started."""

from __future__ import annotations

import pytest

from devstack import launcher
from devstack.config import environment


class Started(Exception):
    """Raised instead of starting the stand-in: the test only wants the port it was given."""


def test_the_data_platform_stand_in_never_takes_a_port_of_the_suite(tmp_path, monkeypatch):
    monkeypatch.setenv("COMMERCE_STATE_DIR", str(tmp_path))
    suite = launcher.Suite(environment({"GATEWAY_PORT": "18080", "SERVICE_PORT_BASE": "18100"}))
    offered = iter([18102, 18080, 18105, 23456])  # the catalog's, the gateway's, the payment's, free
    monkeypatch.setattr(launcher, "port_free", lambda port: False)  # 8199 is taken
    monkeypatch.setattr(launcher, "free_port", lambda: next(offered))

    def child(name, command, env, echo):
        raise Started(command[command.index("--port") + 1])

    monkeypatch.setattr(launcher, "Child", child)
    with pytest.raises(Started) as started:
        suite._data_platform()
    assert started.value.args[0] == "23456"


def test_a_services_worker_runs_beside_its_api_with_its_own_port_and_settings(tmp_path, monkeypatch):
    """The coupon service's issuer: a process of the coupon package on base + 7 (instance 2: its
    own base + 7), started with COUPON_ISSUE_CONSUMER=true while the API runs with false."""
    monkeypatch.setenv("COMMERCE_STATE_DIR", str(tmp_path))
    suite = launcher.Suite(
        environment({"GATEWAY_PORT": "18080", "SERVICE_PORT_BASE": "18100"}), ["coupon"], instances=2
    )
    assert suite.processes() == ["coupon", "coupon-issuer"]
    assert suite.ports() == {
        "gateway": 18080,
        "coupon": 18103,
        "coupon-issuer": 18107,
        "coupon-2": 18203,
        "coupon-issuer-2": 18207,
        "coupon balancer": 18153,
    }
    spawned = {}

    def child(name, command, env, echo):
        spawned[name] = (command, env)
        return object()

    monkeypatch.setattr(launcher, "Child", child)
    for name in suite.processes():
        for instance in (1, 2):
            suite._spawn(name, instance)
    api, issuer = spawned["coupon"], spawned["coupon-issuer-2"]
    assert api[1]["COUPON_ISSUE_CONSUMER"] == "false" and issuer[1]["COUPON_ISSUE_CONSUMER"] == "true"
    assert (
        api[0][api[0].index("--port") + 1] == "18103" and issuer[0][issuer[0].index("--port") + 1] == "18207"
    )
    assert issuer[1]["SERVICE_PORT_BASE"] == "18200"  # instance 2's own base, as its API's
    assert "coupon_service" in issuer[0] and "serve" in issuer[0]


def test_quiet_ports_are_free_and_below_the_ports_outgoing_connections_take():
    """The bench and the fault tests choose their listening ports there: a port the kernel picked
    for a listener was once taken by one of the suite's own outgoing connections first."""
    from devstack.services import SUITE
    from devstack.system import _ephemeral_floor, port_free, quiet_port, quiet_run

    floor = _ephemeral_floor()
    offsets = [o for s in SUITE for o in s.offsets]
    for _ in range(20):
        base = quiet_run(offsets)
        assert base + max(offsets) < floor and all(port_free(base + o) for o in offsets)
        assert quiet_port() < floor
