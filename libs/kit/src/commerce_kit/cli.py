"""The command line every service shares:

python -m <service>_service serve       # the HTTP API and its background work
python -m <service>_service migrate     # the kit's tables, then the service's migrations (a Kubernetes Job)
python -m <service>_service demo-data   # load demo data into an empty schema (make run)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from commerce_kit import db
from commerce_kit.settings import ServiceSettings
from commerce_kit.telemetry import configure_logging

S = TypeVar("S", bound=ServiceSettings)


def main(
    *,
    package: str,
    settings_type: type[S],
    migrations: db.Migrations,
    demo_data: Callable[[S], Coroutine[Any, Any, None]] | None = None,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API and the background work")
    serve.add_argument(
        "--port", type=int, default=None, help="default: SERVICE_PORT_BASE + the service's offset"
    )
    serve.add_argument("--host", default="127.0.0.1")
    sub.add_parser("migrate", help="apply pending migrations (the kit's tables, then the service's)")
    sub.add_parser("demo-data", help="load demo data when the schema is empty")
    args = parser.parse_args(argv)
    settings = settings_type()
    configure_logging(settings.service, settings.log_level)

    if args.command == "migrate":
        print(db.migrate(settings.database_url, settings.db_schema, migrations), end="")
    elif args.command == "demo-data":
        if demo_data is not None:
            asyncio.run(demo_data(settings))
    else:
        import uvicorn

        tune_gc(f"{package}.app")
        uvicorn.run(
            f"{package}.app:create_app",
            factory=True,
            host=args.host,
            port=args.port or settings.port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            # Nothing here reads the client's address (rate limits are per user): uvicorn's
            # X-Forwarded-For parsing would run on every request for nothing.
            proxy_headers=False,
            log_config=None,
            timeout_graceful_shutdown=10,
            backlog=4096,
        )


def tune_gc(app_module: str) -> None:
    """The cyclic garbage collector, set for a server that answers thousands of requests a second.

    Each request allocates hundreds of short-lived objects (futures, dicts, tuples); reference
    counting frees them, cycles are rare. With CPython's default thresholds (700, 10, 10) a young
    collection runs every 700 allocations and a full one, walking every object of the process (the
    token cache, the imported frameworks' classes and schemas), every hundred of those: a tax on
    every request and a pause now and then. So what importing the app made is frozen (never scanned
    again: it lives as long as the process), and collections are rarer: the young generation every
    20,000 allocations, a full collection a hundredth as often as with the defaults."""
    importlib.import_module(app_module)
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
