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
