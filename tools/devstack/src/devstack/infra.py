"""Local PostgreSQL, Redis and Kafka for `make infra`, `make run` and `make test`.

For each server, at the address its variable names (DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS):
when something already listens there it is used as it is; otherwise devstack installs what is
missing (apt-get) and starts its own instance, keeping its files in `<state>/<kind>-<port>/`
(`config.state_dir`). What this process started is remembered: `make run` stops it on exit with
`stop_infra()`; `make infra` leaves it running and `make infra-stop` (`stop_local`) stops it later.

`own_redis(url)` and `own_kafka(bootstrap)` start a server of the caller's own at any local address
(the fault tests: one they may flush, stop and start again), as an `OwnServer` to stop when done.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devstack import gateway
from devstack.config import cache_dir, host_port, repo_root, state_dir
from devstack.system import (
    DevstackError,
    apt_install,
    free_port,
    is_root,
    listening,
    log_tail,
    pid_alive,
    port_free,
    run,
    wait_until,
)

KAFKA_VERSION = "4.1.1"  # keep in step with deploy/local/kafka/pom.xml
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

#: What this process started, newest last: (description, how to stop it).
_started: list[tuple[str, Callable[[], None]]] = []


def say(message: str) -> None:
    print(f"devstack: {message}", flush=True)


def ensure_infra(env: Mapping[str, str], *, gateway_tools: bool = True) -> None:
    """Make PostgreSQL, Redis and Kafka answer at the configured addresses, the URL's database and
    the suite's topics exist; with `gateway_tools`, nginx and njs are installed too (not started)."""
    servers = {
        "postgres": host_port(env["DATABASE_URL"], 5432),
        "redis": host_port(env["REDIS_URL"], 6379),
        "kafka": host_port(env["KAFKA_BOOTSTRAP_SERVERS"], 9092),
    }
    to_start = []
    for kind, (host, port) in servers.items():
        if listening(host, port):
            say(f"{kind} at {host}:{port} answers: using it")
        elif host not in LOCAL_HOSTS:
            raise DevstackError(f"{kind} at {host}:{port} does not answer (devstack starts local ones only)")
        else:
            to_start.append(kind)

    # One apt-get run for everything missing.
    packages = [p for kind in to_start for p in _packages_for(kind, env)]
    apt_install(packages + (gateway.missing_packages() if gateway_tools else []))

    if "postgres" in to_start:
        _start_postgres(*servers["postgres"])
    _create_database(env["DATABASE_URL"])
    if "redis" in to_start:
        _start_redis(*servers["redis"])
    if "kafka" in to_start:
        _start_kafka(*servers["kafka"], env)
    _ensure_topics(env["KAFKA_BOOTSTRAP_SERVERS"], env.get("TOPIC_PREFIX", ""))


def stop_infra() -> None:
    """Stop what this process started (newest first), and nothing else."""
    while _started:
        what, stop = _started.pop()
        say(f"stopping {what}")
        try:
            stop()
        except DevstackError as exc:
            say(str(exc))


def stop_local(env: Mapping[str, str]) -> None:
    """`make infra-stop`: stop the servers devstack started at the configured addresses (found by
    their state directories); a server devstack did not start is never touched."""
    (_, pg_port), (r_host, r_port), (_, k_port) = (
        host_port(env["DATABASE_URL"], 5432),
        host_port(env["REDIS_URL"], 6379),
        host_port(env["KAFKA_BOOTSTRAP_SERVERS"], 9092),
    )
    ours = [
        (f"PostgreSQL :{pg_port}", _postgres_running(pg_port), lambda: _stop_postgres(pg_port)),
        (
            f"Redis :{r_port}",
            pid_alive(state_dir() / f"redis-{r_port}/redis.pid", "redis-server") is not None,
            lambda: _stop_redis(r_host, r_port),
        ),
        (f"Kafka :{k_port}", _kafka_pid(k_port) is not None, lambda: _stop_kafka(k_port)),
    ]
    running = [(what, stop) for what, is_running, stop in ours if is_running]
    if not running:
        say("nothing of ours runs at the configured ports")
    failed = False
    for what, stop in running:
        try:
            stop()
            say(f"stopped {what}")
        except DevstackError as exc:
            say(str(exc))
            failed = True
    if failed:
        raise DevstackError("some servers did not stop")


def _packages_for(kind: str, env: Mapping[str, str]) -> list[str]:
    if kind == "postgres":
        if not _pg_bindirs():
            return ["postgresql", "postgresql-contrib"]
        version = _pg_bindirs()[-1].parent.name
        if not Path(f"/usr/share/postgresql/{version}/extension/pg_stat_statements.control").exists():
            return ["postgresql-contrib"]
    if kind == "redis" and not shutil.which("redis-server"):
        return ["redis-server"]
    if kind == "kafka":
        missing = [] if shutil.which("java") else ["openjdk-17-jre-headless"]
        if not _kafka_libs_dir(env).joinpath(".complete").exists() and not shutil.which("mvn"):
            missing.append("maven")
        return missing
    return []


# --------------------------------------------------------------------------------------- PostgreSQL


def _pg_bindirs() -> list[Path]:
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    return sorted((Path(p).parent for p in found), key=lambda d: int(d.parent.name))


def _as_postgres(cmd: list[str | Path]) -> list[str | Path]:
    # PostgreSQL refuses to run as root: as root, run it as the `postgres` user the package created.
    return ["runuser", "-u", "postgres", "--", *cmd] if is_root() else cmd


def _postgres_home(port: int) -> Path:
    """`<state>/postgres-<port>`. As root, the cluster's owner (`postgres`) must reach that
    directory, and root's home is usually private (0700): then the files live in
    /var/lib/commerce/postgres-<port> and the state directory holds a symlink to them."""
    home = state_dir() / f"postgres-{port}"
    if not is_root():
        home.mkdir(parents=True, exist_ok=True)
        return home
    if home.is_symlink():
        target = home.resolve()
    else:
        home.mkdir(parents=True, exist_ok=True)
        shutil.chown(home, "postgres", "postgres")
        if subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(home)]).returncode == 0:
            return home
        home.rmdir()  # only ever empty here: a cluster could not have been created in it
        target = Path(f"/var/lib/commerce/postgres-{port}")
        home.symlink_to(target)
        say(f"{home.parent} is not reachable by the postgres user: the cluster lives in {target}")
    target.mkdir(parents=True, exist_ok=True)
    shutil.chown(target, "postgres", "postgres")
    return target


def _start_postgres(host: str, port: int) -> None:
    bindir = _pg_bindirs()[-1]
    home = _postgres_home(port)
    data, log = home / "data", home / "postgres.log"
    if not (data / "PG_VERSION").exists():
        say(f"creating a PostgreSQL cluster in {data}")
        run(
            _as_postgres(
                [
                    bindir / "initdb",
                    "-D",
                    data,
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=trust",
                    "--no-locale",
                    "-E",
                    "UTF8",
                ]
            ),
            what="initdb",
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# devstack\nshared_preload_libraries = 'pg_stat_statements'\nmax_connections = 400\n"
            )
    # Port, address and socket directory on the command line: they follow the URL, not the files.
    options = f"-p {port} -c listen_addresses={host} -k {shlex.quote(str(home))}"
    try:
        run(
            _as_postgres(
                [bindir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"]
            ),
            what=f"starting PostgreSQL on {host}:{port}",
            timeout=90,
        )
    except DevstackError as exc:
        raise DevstackError(f"{exc}{log_tail(log)}") from exc
    _started.append((f"PostgreSQL on {host}:{port}", lambda: _stop_postgres(port)))
    say(f"PostgreSQL started on {host}:{port} (log {log})")


def _postgres_data(port: int) -> Path:
    return (state_dir() / f"postgres-{port}").resolve() / "data"  # postgres can't follow root's symlink


def _postgres_running(port: int) -> bool:
    data = _postgres_data(port)
    if not (data / "PG_VERSION").exists() or not _pg_bindirs():
        return False
    pg_ctl = _pg_bindirs()[-1] / "pg_ctl"
    return subprocess.run(_as_postgres([pg_ctl, "-D", data, "status"]), capture_output=True).returncode == 0


def _stop_postgres(port: int) -> None:
    data = _postgres_data(port)
    run(
        _as_postgres([_pg_bindirs()[-1] / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop"]),
        what=f"stopping PostgreSQL :{port}",
        timeout=90,
    )


def _create_database(url: str) -> None:
    """Create the URL's database when missing (connecting to the `postgres` database)."""
    import asyncpg  # from commerce-kit

    from commerce_kit.db import plain_url

    parts = urlsplit(plain_url(url))
    name = parts.path.lstrip("/") or "postgres"

    async def create() -> None:
        conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=10)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
                say(f"database {name} created")
        finally:
            await conn.close()

    try:
        asyncio.run(asyncio.wait_for(create(), 30))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        where = f"{parts.hostname}:{parts.port}"
        raise DevstackError(f"cannot create the database {name} at {where}: {exc}") from exc


# -------------------------------------------------------------------------------------------- Redis


def _start_redis(host: str, port: int) -> None:
    stop = _launch_redis(host, port, state_dir() / f"redis-{port}")
    _started.append((f"Redis on {host}:{port}", stop))


def _launch_redis(host: str, port: int, home: Path) -> Callable[[], None]:
    home.mkdir(parents=True, exist_ok=True)
    log = home / "redis.log"
    # Ours keeps nothing on disk, by design: no snapshots, no append-only file.
    run(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            home / "redis.pid",
            "--logfile",
            log,
            "--dir",
            home,
        ],
        what=f"starting Redis on {host}:{port}",
    )
    wait_until(lambda: _redis_answers(host, port), what=f"Redis on {host}:{port}", timeout=30, log=log)
    say(f"Redis started on {host}:{port} (log {log})")
    return lambda: _stop_redis(host, port)


def _redis_answers(host: str, port: int) -> bool:
    import redis  # from commerce-kit

    try:
        return bool(redis.Redis(host=host, port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _stop_redis(host: str, port: int) -> None:
    subprocess.run(
        ["redis-cli", "-h", host, "-p", str(port), "shutdown", "nosave"], capture_output=True, timeout=30
    )
    wait_until(lambda: not listening(host, port), what=f"Redis on :{port} to stop", timeout=30)


# -------------------------------------------------------------------------------------------- Kafka


def _kafka_libs_dir(env: Mapping[str, str]) -> Path:
    return cache_dir(env) / f"kafka-{KAFKA_VERSION}" / "libs"


def _kafka_libs(env: Mapping[str, str]) -> Path:
    """Kafka's jars from Maven Central (deploy/local/kafka/pom.xml), fetched once into the cache.
    They land in a scratch directory first, so an interrupted download is never taken as done."""
    libs = _kafka_libs_dir(env)
    if (libs / ".complete").exists():
        return libs
    partial = libs.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    say(f"fetching Kafka {KAFKA_VERSION} from Maven Central into {libs} (once)")
    run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            repo_root() / "deploy/local/kafka/pom.xml",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
        ],
        what="mvn dependency:copy-dependencies",
        timeout=1800,
    )
    (partial / ".complete").touch()
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    return libs


def _controller_port(home: Path, host: str, port: int) -> int:
    """The KRaft controller's own port: port+1 when free (else one the kernel picks), remembered in
    the state directory so that restarts keep it. Another copy on another Kafka port derives its
    own, and a port in use is never chosen."""
    saved = home / "controller.port"
    if saved.exists() and port_free(int(saved.read_text()), host):
        return int(saved.read_text())
    chosen = port + 1 if port_free(port + 1, host) else free_port(host)
    saved.write_text(str(chosen))
    return chosen


def _server_properties(host: str, port: int, controller: int, data: Path) -> str:
    return "\n".join(
        [
            "# written by devstack (tools/devstack/src/devstack/infra.py) at every start",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{controller}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=1",
            # One broker: every internal topic has one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # The group coordinator writes at once: Kafka 4.0 and 4.1 hold its writes for this
            # linger (5 ms by default) to batch them, and an offset commit is answered only once
            # written, so every commit of every consumer would wait that long whatever the load.
            "group.coordinator.append.linger.ms=0",
            # Topics are created with their partition counts (ensure_topics), never by accident.
            "auto.create.topics.enable=false",
            "",
        ]
    )


def _start_kafka(host: str, port: int, env: Mapping[str, str]) -> None:
    stop = _launch_kafka(host, port, env, state_dir() / f"kafka-{port}")
    _started.append((f"Kafka on {host}:{port}", stop))


def _launch_kafka(host: str, port: int, env: Mapping[str, str], home: Path) -> Callable[[], None]:
    libs = _kafka_libs(env)
    home.mkdir(parents=True, exist_ok=True)
    data, props, log = home / "data", home / "server.properties", home / "kafka.log"
    props.write_text(_server_properties(host, port, _controller_port(home, host, port), data))
    shutil.copyfile(repo_root() / "deploy/local/kafka/log4j2.yaml", home / "log4j2.yaml")
    java = ["java", f"-Dlog4j2.configurationFile={home / 'log4j2.yaml'}", "-cp", f"{libs}/*"]
    if not (data / "meta.properties").exists():
        tool = [*java, "kafka.tools.StorageTool"]
        cluster_id = run([*tool, "random-uuid"], what="kafka random-uuid").strip()
        run([*tool, "format", "-t", cluster_id, "-c", props], what="kafka storage format")
    with log.open("ab") as out:
        # Its own session: Ctrl-C at the terminal reaches the launcher, which stops Kafka in order.
        proc = subprocess.Popen(
            [java[0], "-Xms256m", "-Xmx768m", *java[1:], "kafka.Kafka", str(props)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,
        )
    (home / "kafka.pid").write_text(str(proc.pid))
    try:
        wait_until(
            lambda: listening(host, port),
            what=f"Kafka on {host}:{port}",
            timeout=90,
            log=log,
            alive=lambda: proc.poll() is None,
        )
    except BaseException:
        proc.kill()  # never leave a half-started broker behind
        proc.wait(timeout=10)
        raise
    say(f"Kafka started on {host}:{port} (log {log})")
    return lambda: _stop_kafka(port, proc)


def _kafka_pid(port: int) -> int | None:
    home = state_dir() / f"kafka-{port}"
    return pid_alive(home / "kafka.pid", str(home / "server.properties"))


def _stop_kafka(port: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    pid = proc.pid if proc is not None else _kafka_pid(port)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    # Our own child is reaped with wait(); another process's child is reaped by init.
    gone = (lambda: proc.poll() is not None) if proc is not None else (lambda: _kafka_pid(port) is None)
    try:
        wait_until(gone, what=f"Kafka :{port} to stop", timeout=60)
    except DevstackError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        raise


def ensure_topics(bootstrap: str, prefix: str = "") -> None:
    """Wait (bounded) until a Kafka client works at `bootstrap`, then create the suite's topics
    under `prefix` that are missing."""
    _ensure_topics(bootstrap, prefix)


def _ensure_topics(bootstrap: str, prefix: str) -> None:
    """Wait until a real Kafka client works (bounded), then create the suite's missing topics."""
    from commerce_kit.messaging import ensure_topics, suite_topics

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # connection refusals while it starts
    _, port = host_port(bootstrap, 9092)
    log = state_dir() / f"kafka-{port}/kafka.log"
    wait_until(
        lambda: asyncio.run(_kafka_answers(bootstrap)),
        what=f"a Kafka client at {bootstrap}",
        timeout=90,
        log=log if log.exists() else None,
        interval=0.5,
    )
    asyncio.run(asyncio.wait_for(ensure_topics(bootstrap, suite_topics(prefix)), 60))
    say(f"Kafka topics ready at {bootstrap}" + (f" (prefix {prefix!r})" if prefix else ""))


async def _kafka_answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 10)
        await asyncio.wait_for(admin.list_topics(), 10)
        return True
    except Exception:  # not up yet (or not a broker): the caller's bounded wait decides
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


# ------------------------------------------------------------------------------ servers of one's own


@dataclass
class OwnServer:
    """A server started on request at an address of the caller's choosing, with its files in
    `home`: `stop()` it (the fault: Redis loses everything, Kafka keeps its log) and `start()` it
    again at the same address. Not remembered by `stop_infra`: its owner stops it."""

    kind: str
    host: str
    port: int
    home: Path
    _launch: Callable[[], Callable[[], None]] = field(repr=False)
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._stop is not None

    def start(self) -> None:
        if self._stop is None:
            self._stop = self._launch()

    def stop(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


def _own(
    kind: str, host: str, port: int, home: Path | None, launch: Callable[[Path], Callable[[], None]]
) -> OwnServer:
    if host not in LOCAL_HOSTS:
        raise DevstackError(f"{kind} can only be started on this machine, not at {host}")
    if listening(host, port):
        raise DevstackError(f"{kind}: something already listens at {host}:{port}")
    where = home or state_dir() / f"{kind}-{port}"
    server = OwnServer(kind, host, port, where, lambda: launch(where))
    server.start()
    return server


def own_redis(url: str, home: Path | None = None) -> OwnServer:
    """A Redis of one's own at `url`'s host and port (nothing on disk, like every devstack Redis)."""
    apt_install(_packages_for("redis", {}))
    host, port = host_port(url, 6379)
    return _own("redis", host, port, home, lambda where: _launch_redis(host, port, where))


def own_kafka(bootstrap: str, env: Mapping[str, str], home: Path | None = None) -> OwnServer:
    """A single-node Kafka of one's own at `bootstrap` (its log in `home`, kept across stop/start)."""
    apt_install(_packages_for("kafka", env))
    host, port = host_port(bootstrap, 9092)
    return _own("kafka", host, port, home, lambda where: _launch_kafka(host, port, env, where))
