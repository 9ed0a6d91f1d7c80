"""Load a schema from a live database by reflection (sqlite, PostgreSQL, MySQL/MariaDB)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..errors import DatabaseUnreachable, SchemaError
from .mask import expand, mask_text, mask_url
from .model import Schema
from .sqla import from_metadata
from .sqlite import sqlite_as_declared

URL_SCHEME = re.compile(r"^[a-zA-Z][\w+.-]*://")
#: Seconds to wait for a server before calling it unreachable.
CONNECT_TIMEOUT = 5
#: Drivers tried, in order, for a URL that names none (``postgresql://``, ``mysql://``).
DEFAULT_DRIVERS = {
    "postgresql": ("psycopg", "psycopg2"),
    "mysql": ("mysqldb", "pymysql"),
    "mariadb": ("mysqldb", "pymysql"),
}
_MODULES = {
    "psycopg": "psycopg",
    "psycopg2": "psycopg2",
    "mysqldb": "MySQLdb",
    "pymysql": "pymysql",
}
_TIMEOUT_ARGS = {
    "psycopg2": "connect_timeout",
    "pymysql": "connect_timeout",
    "mysqldb": "connect_timeout",
    "pysqlite": "timeout",
}


def is_url(source: str) -> bool:
    return bool(URL_SCHEME.match(source))


def split_schema(source: str) -> tuple[str, str | None]:
    """``URL#name`` -> (URL, name): the fragment names the database schema to read."""
    url, sep, name = source.partition("#")
    return url, (name or None) if sep else None


def _sqlite_path(url: URL, base_dir: str) -> URL:
    db = url.database or ""
    if not db or db == ":memory:" or db.startswith("file:"):
        return url
    path = db if os.path.isabs(db) else os.path.join(base_dir, db)
    if not os.path.isfile(path):
        # Opening would create an empty database and report every table as missing.
        raise DatabaseUnreachable(f"no SQLite database at {path}")
    return url.set(database=path)


def _with_driver(url: URL) -> URL:
    """``url`` naming an installed driver when it names none (SQLAlchemy's default may not
    be installed: psycopg for postgresql://, mysqlclient for mysql://)."""
    import importlib.util

    drivers = DEFAULT_DRIVERS.get(url.drivername)
    if not drivers:
        return url
    for driver in drivers:
        if importlib.util.find_spec(_MODULES[driver]) is not None:
            return url.set(drivername=f"{url.drivername}+{driver}")
    return url


def _engine(raw: str, base_dir: str) -> sa.Engine:
    masked = mask_url(raw)
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SchemaError(
            f"{masked} is not a database URL; write it like postgresql://user:${{PASSWORD}}@host/db"
        ) from None
    if url.get_backend_name() == "sqlite":
        url = _sqlite_path(url, base_dir)
    url = _with_driver(url)
    args: dict[str, Any] = {}
    try:
        driver = url.get_dialect().driver
    except NoSuchModuleError:
        raise SchemaError(
            f"{masked}: no SQLAlchemy dialect {url.drivername!r}; write "
            "sqlite://, postgresql:// or mysql+pymysql://"
        ) from None
    if driver in _TIMEOUT_ARGS:
        args[_TIMEOUT_ARGS[driver]] = CONNECT_TIMEOUT
    try:
        return sa.create_engine(url, poolclass=NullPool, connect_args=args)
    except (ImportError, NoSuchModuleError) as exc:
        raise SchemaError(f"{masked}: the database driver is not installed ({exc})") from None


@contextmanager
def connect(source: str, base_dir: str = ".") -> Iterator[Connection]:
    """A connection to the database ``source`` names (``${VAR}`` expanded)."""
    raw = expand(source)
    engine = _engine(raw, base_dir)
    try:
        try:
            conn = engine.connect()
        except (DBAPIError, SQLAlchemyError) as exc:
            reason = mask_text(str(getattr(exc, "orig", None) or exc), raw).strip()
            reason = " ".join(reason.split())
            raise DatabaseUnreachable(f"cannot connect to {mask_url(raw)}: {reason}") from None
        with conn:
            yield conn
    finally:
        engine.dispose()


def reflect_connection(conn: Connection, name: str | None, source: str) -> Schema:
    md = sa.MetaData()
    try:
        # resolve_fks=False: a foreign key to a table that is gone is drift, not an error
        md.reflect(conn, schema=name, resolve_fks=False)
    except SQLAlchemyError as exc:
        raise SchemaError(
            f"cannot read the schema of {source}: "
            f"{' '.join(str(getattr(exc, 'orig', exc)).split())}"
        ) from None
    # Reflection also pulls in tables of other schemas that foreign keys point to.
    for table in [t for t in md.tables.values() if t.schema != name]:
        md.remove(table)
    schema = from_metadata(md, name=name, source=source, dialect=conn.dialect.name)
    return sqlite_as_declared(conn, schema) if conn.dialect.name == "sqlite" else schema


def load_url(source: str, base_dir: str = ".", name: str | None = None) -> Schema:
    """The schema of a live database: ``URL`` or ``URL#schema``."""
    url, fragment = split_schema(source)
    name = name or fragment
    with connect(url, base_dir) as conn:
        return reflect_connection(conn, name, mask_url(expand(url)))
