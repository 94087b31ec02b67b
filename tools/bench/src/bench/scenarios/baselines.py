"""The baselines: each service's `/health/<service>/live` through the gateway (the gateway routes
these for the benchmark: devstack/gateway.py), and the gateway's own static `/gateway/ping`. They
tell what one request costs before any work: nginx alone, then nginx plus one Python process."""

from __future__ import annotations

from bench import loadgen, wrk
from bench.report.table import Line
from bench.scenarios.common import Context, merge_errors


def run(ctx: Context) -> None:
    wanted = ctx.plan.baseline_services
    services = [s.name for s in ctx.stack.services if wanted is None or s.name in wanted]
    targets = [("gateway.ping", "gateway /gateway/ping", "/gateway/ping", None)] + [
        (f"health.{name}", f"{name} /health/{name}/live", f"/health/{name}/live", name) for name in services
    ]
    client = loadgen.Client(ctx.stack.gateway_url)
    for key, name, path, service in targets:
        url = ctx.stack.gateway_url
        wrk.warm_up(url, path)
        with ctx.profiled(key, [service] if service else [], ctx.plan.wrk_seconds):
            ceiling = wrk.run(
                url,
                seconds=ctx.plan.wrk_seconds,
                path=path,
                count=False,
                connections=ctx.plan.connections,
                threads=2 if service is None else 1,
            )
        samples, rate, half = ctx.constant_rate([client.build("GET", path)], ceiling.rps)
        ctx.record(key, {"wrk": ceiling.as_dict(), "constant_rate": samples.as_dict()})
        ctx.add(
            Line(
                key,
                name,
                "baselines",
                rate=ceiling.rps,
                latency=samples.latency("req"),
                latency_rate=rate,
                half_rate=half,
                lag_p99=samples.lag_p99,
                errors=merge_errors(ceiling.answers.errors(), samples.answers.errors()),
                note=f"wrk p99 at the ceiling {ceiling.latency.p99:.1f} ms",
            )
        )
    if wanted is not None:
        ctx.notes.append("--quick: baselines of the gateway and the services other lines compare with only")
