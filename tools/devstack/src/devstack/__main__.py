"""python -m devstack run [--instances N] | infra | stop-infra | migrate | token (the Makefile's targets)."""

from __future__ import annotations

import argparse
import sys

from commerce_kit.auth import ADMIN, mint_token
from devstack import infra, launcher
from devstack.config import environment, host_port
from devstack.system import DevstackError, listening


def migrate() -> None:
    env = environment()
    host, port = host_port(env["DATABASE_URL"], 5432)
    if not listening(host, port):
        raise DevstackError(f"PostgreSQL at {host}:{port} does not answer: run `make infra` first")
    suite = launcher.Suite(env, echo=launcher.print_line)
    for service in suite.services:
        suite.service_command(service, "migrate")
        print(f"devstack: {service.name}: migrations applied", flush=True)


def token(user: int | None, admin: bool, ttl: int) -> None:
    if user is None and not admin:
        raise DevstackError("say whose token: --user N (make token USER=N) and/or --admin (ADMIN=1)")
    subject = user if user is not None else 1  # the demo data's first user is "Admin"
    env = environment()
    print(mint_token(env["JWT_SECRET"], subject, [ADMIN] if admin else [], ttl))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="infrastructure, services and gateway in the foreground (make run)")
    runner.add_argument(
        "--instances",
        type=int,
        default=1,
        help="instances of every service (default 1; make run INSTANCES=N)",
    )
    sub.add_parser("infra", help="install and start PostgreSQL, Redis and Kafka where nothing answers")
    sub.add_parser("stop-infra", help="stop the servers devstack started at the configured ports")
    sub.add_parser("migrate", help="apply every service's migrations")
    tok = sub.add_parser("token", help="print a JWT signed with JWT_SECRET")
    tok.add_argument("--user", type=int, help="the user id (sub claim); default 1 with --admin")
    tok.add_argument("--admin", action="store_true", help="add the ADMIN role")
    tok.add_argument("--ttl", type=int, default=24 * 3600, help="seconds (default: a day)")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return launcher.run(instances=args.instances)
        if args.command == "infra":
            infra.ensure_infra(environment())
            print("devstack: infrastructure ready; `make infra-stop` stops what devstack started")
        elif args.command == "stop-infra":
            infra.stop_local(environment())
        elif args.command == "migrate":
            migrate()
        else:
            token(args.user, args.admin, args.ttl)
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
