"""Browsing: the product list and product details (catalog), popular products (ranking), each against
its service's liveness through the gateway."""

from __future__ import annotations

from bench import loadgen, wrk
from bench.report.table import Line
from bench.scenarios.common import Context, merge_errors

LIST = "/api/v1/products?size=20"
POPULAR = "/api/v1/products/popular?days=3&limit=5"


def run(ctx: Context) -> None:
    products = ctx.state["products"]
    token = ctx.state["buyers"][0].token
    details = ctx.out / "detail-paths.txt"
    details.write_text("".join(f"/api/v1/products/{p.id}\n" for p in products))
    lines = [
        ("browse.list", "product list (first page, 20)", "catalog", LIST, None),
        ("browse.detail", f"product detail ({len(products)} products)", "catalog", None, details),
        ("browse.popular", "popular products (3 days, top 5)", "ranking", POPULAR, None),
    ]
    for key, name, service, path, paths_file in lines:
        target = 0.8 if key == "browse.popular" else 0.6
        if not ctx.stack.has(service):
            ctx.add(
                Line(
                    key,
                    name,
                    "browse",
                    baseline=f"health.{service}",
                    target=target,
                    skipped=f"the {service} service is not in devstack's SUITE yet",
                )
            )
            continue
        url = ctx.stack.gateway_url
        warm = path or f"/api/v1/products/{products[0].id}"
        wrk.warm_up(url, warm, token)
        with ctx.profiled(key, [service], ctx.plan.wrk_seconds):
            ceiling = wrk.run(
                url,
                seconds=ctx.plan.wrk_seconds,
                path=path,
                paths_file=paths_file,
                token=token,
                connections=ctx.plan.connections,
            )
        client = loadgen.Client(url)
        auth = {"Authorization": f"Bearer {token}"}
        requests = (
            [client.build("GET", path, auth)]
            if path
            else [client.build("GET", f"/api/v1/products/{p.id}", auth) for p in products]
        )
        samples, rate, half = ctx.constant_rate(requests, ceiling.rps)
        ctx.record(key, {"wrk": ceiling.as_dict(), "constant_rate": samples.as_dict()})
        ctx.add(
            Line(
                key,
                name,
                "browse",
                rate=ceiling.rps,
                baseline=f"health.{service}",
                target=target,
                latency=samples.latency("req"),
                latency_rate=rate,
                half_rate=half,
                lag_p99=samples.lag_p99,
                errors=merge_errors(ceiling.answers.errors(), samples.answers.errors()),
                note=f"wrk p99 at the ceiling {ceiling.latency.p99:.1f} ms",
            )
        )
