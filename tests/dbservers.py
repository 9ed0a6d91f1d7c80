"""Throwaway PostgreSQL and MariaDB servers for the tests, on loopback, gone afterwards.

Each server is initialised in a temporary directory, listens on a free port of 127.0.0.1
(and a Unix socket inside that directory, used only to create the test user), and is
stopped and removed at the end of the session. The tests connect as labbook/labbook to
the database labbook_test, over TCP, with password authentication.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import pytest

USER = "labbook"
PASSWORD = "labbook"
DATABASE = "labbook_test"
#: How long initialising, starting or stopping a server may take (s).
DEADLINE = 60.0
#: Who runs the servers when the tests run as root (PostgreSQL refuses to run as root).
SERVER_ACCOUNT = "nobody"
#: Server binaries live in sbin, which an ordinary user's PATH may not hold.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
#: What a connection attempt says while a server is still starting; anything else is an error.
NOT_YET_POSTGRESQL = ("No such file or directory", "Connection refused", "starting up")
NOT_YET_MARIADB = (2002, 2003)  # cannot connect through the socket / over TCP
#: The servers' whole environment: no locale, PG* or MYSQL* variables of the caller.
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


class ServerFailed(Exception):
    """A server could not be initialised or started; the message ends with its log."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_account(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    account = pwd.getpwnam(SERVER_ACCOUNT)
    return [
        "setpriv",
        f"--reuid={account.pw_uid}",
        f"--regid={account.pw_gid}",
        "--clear-groups",
        "--",
        *cmd,
    ]


def _log_tail(log: Path) -> str:
    """The end of a server's log, after the first lines that say ERROR (MariaDB's tools end
    their log with advice, the cause is further up)."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    tail = lines[-15:]
    errors = [ln for ln in lines[:-15] if "ERROR" in ln or "cannot" in ln.lower()][:5]
    return "\n".join(errors + (["..."] if errors else []) + tail) or "(empty log)"


@contextmanager
def _scratch(name: str) -> Iterator[Path]:
    """A temporary directory the server's account owns; removed with all it holds."""
    path = Path(tempfile.mkdtemp(prefix=f"labbook-{name}-"))
    try:
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_ACCOUNT)
            os.chown(path, account.pw_uid, account.pw_gid)
        yield path
    finally:
        shutil.rmtree(path)


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "ab") as out:
        proc = subprocess.run(
            _as_server_account(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            env=ENV,
            timeout=DEADLINE,
            check=False,
        )
    if proc.returncode != 0:
        raise ServerFailed(
            f"{' '.join(cmd)} failed with status {proc.returncode}:\n{_log_tail(log)}"
        )


@contextmanager
def _serving(
    cmd: list[str], log: Path, ready: Callable[[], bool], stop_signal: int
) -> Iterator[None]:
    """Run the server ``cmd`` until the block ends; enter the block once ``ready()``."""
    with open(log, "ab") as out:
        # its own session, so that what is left after a failed stop can be killed at once
        proc = subprocess.Popen(
            _as_server_account(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            env=ENV,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DEADLINE
        while not ready():
            if proc.poll() is not None:
                raise ServerFailed(
                    f"{cmd[0]} exited with status {proc.returncode}:\n{_log_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"{cmd[0]} did not answer within {DEADLINE:.0f} s:\n{_log_tail(log)}"
                )
            time.sleep(0.05)
        yield
    finally:
        proc.send_signal(stop_signal)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def _on_a_free_port(start: Callable[[int], AbstractContextManager[str]]) -> Iterator[str]:
    """Start a server on a free port, or on another if a process took that one meanwhile."""
    for attempt in range(3):
        with ExitStack() as stack:
            try:
                url = stack.enter_context(start(free_port()))
            except ServerFailed as exc:
                if "Address already in use" in str(exc) and attempt < 2:
                    continue
                raise
            yield url
            return


# -- PostgreSQL --------------------------------------------------------------------------


def postgresql_bindir() -> Path | None:
    """The bin directory of the newest PostgreSQL installed (Debian's layout), or None."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")
        if os.access(Path(p).parent / "initdb", os.X_OK)
    ]
    return max(found, key=lambda d: [int(n) for n in d.parent.name.split(".")], default=None)


@contextmanager
def postgresql(port: int) -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1:``port``; yields the URL of the test database."""
    import psycopg2

    bindir = postgresql_bindir()
    assert bindir is not None
    with _scratch("postgresql") as base:
        data, log = base / "data", base / "server.log"
        # the superuser logs in only through the socket in the private directory
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            log,
        )

        def admin():  # type: ignore[no-untyped-def]
            return psycopg2.connect(
                host=str(base), port=port, user="postgres", dbname="postgres", connect_timeout=5
            )

        def ready() -> bool:
            try:
                admin().close()
            except psycopg2.OperationalError as exc:
                if not any(m in str(exc) for m in NOT_YET_POSTGRESQL):
                    raise
                return False
            return True

        cmd = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={base}",
            "-c",
            "fsync=off",
        ]
        # SIGINT is PostgreSQL's fast shutdown: sessions still open are ended
        with _serving(cmd, log, ready, stop_signal=signal.SIGINT):
            conn = admin()
            conn.autocommit = True  # CREATE DATABASE runs outside transactions
            try:
                with conn.cursor() as cur:
                    cur.execute(f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
                    cur.execute(f"CREATE DATABASE {DATABASE} OWNER {USER}")
            finally:
                conn.close()
            yield f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"


# -- MariaDB -----------------------------------------------------------------------------


def mariadb_binaries() -> tuple[str, str] | None:
    """(mariadb-install-db, mariadbd), or None where MariaDB's server is not installed."""
    install, server = (
        shutil.which(n, path=SEARCH_PATH) for n in ("mariadb-install-db", "mariadbd")
    )
    return (install, server) if install and server else None


@contextmanager
def mariadb(port: int) -> Iterator[str]:
    """A MariaDB server on 127.0.0.1:``port``; yields the URL of the test database."""
    import pymysql

    binaries = mariadb_binaries()
    assert binaries is not None
    install, server = binaries
    me = pwd.getpwuid(os.geteuid()).pw_name
    with _scratch("mariadb") as base:
        data, log, sock = base / "data", base / "server.log", base / "mariadbd.sock"
        # an administrator named as the user running the tests, who logs in only through
        # the socket and only as that user (unix_socket authentication)
        _run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                f"--auth-root-socket-user={me}",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            log,
        )

        def admin():  # type: ignore[no-untyped-def]
            return pymysql.connect(
                unix_socket=str(sock), user=me, connect_timeout=5, autocommit=True
            )

        def ready() -> bool:
            if not sock.exists():  # pymysql leaves the socket of a failed attempt open
                return False
            try:
                admin().close()
            except pymysql.OperationalError as exc:
                if exc.args[0] not in NOT_YET_MARIADB:
                    raise
                return False
            return True

        cmd = [
            server,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={base}/mariadbd.pid",
            "--skip-name-resolve",
            f"--tmpdir={base}",
        ]
        with _serving(cmd, log, ready, stop_signal=signal.SIGTERM):
            conn = admin()
            with conn, conn.cursor() as cur:
                cur.execute(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
                cur.execute(f"GRANT ALL PRIVILEGES ON `labbook%`.* TO '{USER}'@'127.0.0.1'")
                cur.execute(f"CREATE DATABASE {DATABASE}")
            yield f"mysql+pymysql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"


# -- fixtures ----------------------------------------------------------------------------


def _session_server(
    start: Callable[[int], AbstractContextManager[str]], installed: bool, missing: str, package: str
) -> Iterator[str]:
    if not installed:
        pytest.skip(f"{missing}: install the Debian package {package} (bindep.txt, profile test)")
    with _on_a_free_port(start) as url:
        yield url


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[str]:
    """URL of the test database on a PostgreSQL server started for this session."""
    yield from _session_server(
        postgresql,
        postgresql_bindir() is not None,
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres)",
        "postgresql",
    )


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[str]:
    """URL of the test database on a MariaDB server started for this session."""
    yield from _session_server(
        mariadb,
        mariadb_binaries() is not None,
        "MariaDB's server is not installed (no mariadb-install-db and mariadbd)",
        "mariadb-server",
    )


# -- databases and dumps -----------------------------------------------------------------


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A fresh, empty database on ``server`` (a URL), dropped afterwards; yields its URL."""
    import uuid

    import sqlalchemy as sa

    name = f"labbook_t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.engine.make_url(server).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def dump_schema(url: str) -> str:
    """The schema-only dump of the database at ``url``, as its server's own tool writes it
    (pg_dump -s; mariadb-dump --no-data), password passed in the environment."""
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    env = dict(ENV)
    if u.get_backend_name() == "postgresql":
        bindir = postgresql_bindir()
        assert bindir is not None
        env["PGPASSWORD"] = u.password or ""
        cmd = [str(bindir / "pg_dump"), "-s", "-h", str(u.host), "-p", str(u.port)]
        cmd += ["-U", str(u.username), str(u.database)]
    else:
        tool = shutil.which("mariadb-dump") or shutil.which("mysqldump")
        assert tool is not None, "install mariadb-client (bindep.txt, profile test)"
        env["MYSQL_PWD"] = u.password or ""
        cmd = [tool, "--no-defaults", "--no-data", "-h", str(u.host), "-P", str(u.port)]
        cmd += ["-u", str(u.username), str(u.database)]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=DEADLINE, check=False
    )
    if proc.returncode != 0:
        raise ServerFailed(f"{cmd[0]} failed with status {proc.returncode}: {proc.stderr}")
    return proc.stdout
