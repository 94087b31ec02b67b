"""The command line every service shares:

python -m <service>_service serve       # the HTTP API and its background work
python -m <service>_service migrate     # apply pending migrations (a Kubernetes Job runs this)
python -m <service>_service demo-data   # load demo data into an empty schema (make run)
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from commerce_kit import db
from commerce_kit.settings import ServiceSettings
from commerce_kit.telemetry import configure_logging


def main(
    *,
    package: str,
    settings_type: type[ServiceSettings],
    migrations: Path,
    demo_data: Callable[[ServiceSettings], Awaitable[None]] | None = None,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API and the background work")
    serve.add_argument(
        "--port", type=int, default=None, help="default: SERVICE_PORT_BASE + the service's offset"
    )
    serve.add_argument("--host", default="127.0.0.1")
    sub.add_parser("migrate", help="apply pending migrations")
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
