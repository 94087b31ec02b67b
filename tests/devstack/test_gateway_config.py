"""The gateway's rendered nginx configuration for the whole suite (six services, although not all
exist yet): routing order and a syntax check by nginx itself. No server is started."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from devstack import gateway
from devstack.config import environment
from devstack.services import Service

WHOLE_SUITE = [
    Service("user", "user_service", ("/admin/users", "/users/{id}/balance", "/users/{id}/transactions")),
    Service("catalog", "catalog_service", ("/products", "/admin/products")),
    Service("coupon", "coupon_service", ("/coupons", "/admin/coupons", "/users/{id}/coupons")),
    Service("order", "order_service", ("/orders", "/users/{id}/orders")),
    Service("payment", "payment_service", ("/payments",)),
    Service("ranking", "ranking_service", ("/products/popular", "/admin/rankings")),
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("COMMERCE_STATE_DIR", str(tmp_path))
    return environment({"GATEWAY_PORT": "18080", "SERVICE_PORT_BASE": "18100"})


def routed(conf: str, path: str) -> str | None:
    """The upstream nginx would pick for `path`: the first regex location that matches."""
    for regex, upstream in re.findall(r'location ~ "([^"]+)" \{ proxy_pass http://svc_(\w+); \}', conf):
        if re.search(regex, path):
            return upstream
    return None


def test_each_path_goes_to_its_owner(env):
    conf = gateway.render(env, WHOLE_SUITE)
    assert routed(conf, "/api/v1/products/popular") == "ranking"  # before catalog's /products
    assert routed(conf, "/api/v1/products/7") == "catalog"
    assert routed(conf, "/api/v1/products") == "catalog"
    assert routed(conf, "/api/v1/users/3/coupons") == "coupon"
    assert routed(conf, "/api/v1/users/3/orders") == "order"
    assert routed(conf, "/api/v1/users/3/balance/charge") == "user"
    assert routed(conf, "/api/v1/admin/users") == "user"
    assert routed(conf, "/api/v1/admin/rankings/rebuild") == "ranking"
    assert routed(conf, "/api/v1/productsX") is None
    assert routed(conf, "/internal/v1/users/3") is None
    assert "server 127.0.0.1:18106;" in conf  # ranking: base + 6
    assert "listen 127.0.0.1:18080" in conf


@pytest.mark.skipif(not gateway.nginx_binary(), reason="nginx is not installed (make infra installs it)")
def test_nginx_accepts_the_configuration(env):
    command, _ = gateway.prepare(env, WHOLE_SUITE)  # runs `nginx -t`
    assert command[-2:] == ["-g", "daemon off;"]
    assert shutil.which(command[0]) and subprocess.run([*command[:-2], "-t", "-q"]).returncode == 0


def test_with_two_instances_each_upstream_lists_both_and_a_dead_one_is_skipped(env):
    conf = gateway.render(env, WHOLE_SUITE, instances=2)
    for offset in range(1, 7):
        # Instance 1 on SERVICE_PORT_BASE, instance 2 on SERVICE_PORT_BASE_2 (default base + 100).
        assert f"server 127.0.0.1:{18100 + offset} max_fails=1 fail_timeout=3s;" in conf
        assert f"server 127.0.0.1:{18200 + offset} max_fails=1 fail_timeout=3s;" in conf
        # The services call one another through a balancer of their own (SERVICE_LB_PORT_BASE).
        assert f"listen 127.0.0.1:{18150 + offset};" in conf
    assert "payment-2=127.0.0.1:18205" in conf  # /health asks every instance
    assert routed(conf, "/api/v1/products/popular") == "ranking"


def test_one_instance_is_the_plain_layout(env):
    conf = gateway.render(env, WHOLE_SUITE)
    assert "max_fails" not in conf and "18150" not in conf and "-2=" not in conf


@pytest.mark.skipif(not gateway.nginx_binary(), reason="nginx is not installed (make infra installs it)")
def test_nginx_accepts_the_configuration_of_two_instances(env):
    command, _ = gateway.prepare(env, WHOLE_SUITE, instances=2)  # runs `nginx -t`
    assert subprocess.run([*command[:-2], "-t", "-q"]).returncode == 0
