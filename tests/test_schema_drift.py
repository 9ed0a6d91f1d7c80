"""Schema drift against real databases: SQLite, PostgreSQL and MariaDB on loopback."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from sphinxext.labbook.cli import main
from sphinxext.labbook.errors import DatabaseUnreachable, SchemaError
from sphinxext.labbook.schema.allow import load_allow
from sphinxext.labbook.schema.diff import Kind, same_type
from sphinxext.labbook.schema.drift import check_drift
from sphinxext.labbook.schema.orm import import_file
from sphinxext.labbook.schema.source import load_schema

REPO = Path(__file__).parent.parent
NOVA = "schemas/nova_api.py:Base"
KEYSTONE = "schemas/keystone.py:Base"
#: Set one to test against a server of your own instead of the one the tests start.
SERVER_URL_VARIABLES = {
    "postgresql": "LABBOOK_TEST_POSTGRESQL_URL",
    "mariadb": "LABBOOK_TEST_MARIADB_URL",
}


def _server_url(request: pytest.FixtureRequest, name: str) -> str:
    return os.environ.get(SERVER_URL_VARIABLES[name]) or request.getfixturevalue(f"{name}_server")


@pytest.fixture(scope="session", params=sorted(SERVER_URL_VARIABLES))
def server(request: pytest.FixtureRequest) -> str:
    """URL of the test database on a server: a throwaway one (tests/dbservers.py), or the
    one the environment names."""
    return _server_url(request, request.param)


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A fresh, empty database on ``server``, dropped afterwards; yields its URL."""
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


@pytest.fixture
def database(server: str) -> Iterator[str]:
    with fresh_database(server) as url:
        yield url


@pytest.fixture
def postgresql_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database on PostgreSQL alone: named schemas inside a database are its own
    (MariaDB's schema is its database, tested with the others)."""
    with fresh_database(_server_url(request, "postgresql")) as url:
        yield url


def create_from(models: str, url: str) -> None:
    """Create the tables of ``models`` (path:attr) in the database at ``url``."""
    path, attr = models.split(":")
    base = getattr(import_file(str(REPO / path)), attr)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    base.metadata.create_all(engine)
    engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for s in statements:
            conn.execute(sa.text(s))
    engine.dispose()


ALTER_HOST = {
    "postgresql": "ALTER TABLE host_mappings ALTER COLUMN host TYPE TEXT",
    "mysql": "ALTER TABLE host_mappings MODIFY COLUMN host TEXT NOT NULL",
}


# -- real servers --------------------------------------------------------------------------


@pytest.mark.parametrize("models", [NOVA, KEYSTONE])
def test_database_created_from_the_models_shows_no_drift(database, models):
    create_from(models, database)
    report = check_drift(models, database, str(REPO))
    assert report.lines() == []
    assert not report.drift


def test_altered_column_is_exactly_one_difference(database):
    create_from(NOVA, database)
    execute(database, ALTER_HOST[sa.engine.make_url(database).get_backend_name()])
    report = check_drift(NOVA, database, str(REPO))
    assert report.lines() == [
        "table host_mappings: column host: documented VARCHAR(255), live TEXT"
    ]


def test_composite_foreign_key_dropped_live_is_reported(database):
    create_from(KEYSTONE, database)
    drop = (
        "ALTER TABLE local_user DROP CONSTRAINT local_user_user_id_fkey"
        if "postgresql" in database
        else "ALTER TABLE local_user DROP FOREIGN KEY local_user_user_id_fkey"
    )
    execute(database, drop)
    lines = check_drift(KEYSTONE, database, str(REPO)).lines()
    assert (
        "table local_user: foreign key (user_id, domain_id) -> user (id, domain_id): "
        "documented ON DELETE CASCADE ON UPDATE CASCADE, missing live" in lines
    )


def test_extra_table_nullability_and_index_changes(database):
    create_from(NOVA, database)
    pg = "postgresql" in database
    execute(
        database,
        "CREATE TABLE shadow_instances (id INTEGER PRIMARY KEY)",
        "ALTER TABLE flavors ALTER COLUMN description SET NOT NULL"
        if pg
        else "ALTER TABLE flavors MODIFY COLUMN description TEXT NOT NULL",
        "DROP INDEX host_idx" if pg else "DROP INDEX host_idx ON host_mappings",
    )
    diffs = {(d.table, d.kind): str(d) for d in check_drift(NOVA, database, str(REPO)).differences}
    assert diffs == {
        (
            "flavors",
            Kind.NULLABLE,
        ): "table flavors: column description: documented NULL, live NOT NULL",
        (
            "host_mappings",
            Kind.INDEX,
        ): "table host_mappings: index host_idx: documented (host), missing live",
        ("shadow_instances", Kind.TABLE): "table shadow_instances: live, not documented",
    }


def test_cli_against_a_server_exit_codes_and_json(database, capsys, monkeypatch):
    create_from(NOVA, database)
    monkeypatch.chdir(REPO)
    assert main(["schema-diff", NOVA, database]) == 0
    execute(database, ALTER_HOST[sa.engine.make_url(database).get_backend_name()])
    assert main(["schema-diff", "--json", NOVA, database]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["drift"] is True
    assert [d["message"] for d in data["differences"]] == [
        "table host_mappings: column host: documented VARCHAR(255), live TEXT"
    ]
    password = sa.engine.make_url(database).password
    assert f":{password}@" not in data["live"] and ":*****@" in data["live"]


def test_postgres_schema_name_in_the_url(postgresql_database):
    database = postgresql_database
    execute(database, "CREATE SCHEMA nova")
    base = import_file(str(REPO / "schemas/nova_api.py")).Base
    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("SET search_path TO nova"))
        base.metadata.create_all(conn)
    engine.dispose()
    assert check_drift(NOVA, database + "#nova", str(REPO)).lines() == []
    report = check_drift(NOVA, database, str(REPO))  # public: every table missing
    assert len(report.differences) == 17
    assert load_schema(database + "#nova").name == "nova"


def test_wrong_password_is_unreachable_and_never_echoed(server):
    url = sa.engine.make_url(server).set(password="n0t-the-Passw0rd")
    with pytest.raises(DatabaseUnreachable) as info:
        check_drift(NOVA, url.render_as_string(hide_password=False), str(REPO))
    assert "n0t-the-Passw0rd" not in str(info.value)
    assert ":*****@" in str(info.value)
    assert info.value.exit_code == 3


# -- SQLite and files ---------------------------------------------------------------------


@pytest.fixture
def nova_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'nova.db'}"
    create_from(NOVA, url)
    return url


def test_sqlite_no_drift_then_one_added_column(nova_sqlite):
    assert check_drift(NOVA, nova_sqlite, str(REPO)).lines() == []
    execute(nova_sqlite, "ALTER TABLE cell_mappings ADD COLUMN extra VARCHAR(10)")
    assert check_drift(NOVA, nova_sqlite, str(REPO)).lines() == [
        "table cell_mappings: column extra: live VARCHAR(10), not documented"
    ]


def test_snapshot_against_database_and_against_models(nova_sqlite):
    assert check_drift("schemas/nova_api.snapshot.yaml", nova_sqlite, str(REPO)).lines() == []
    assert check_drift("schemas/nova_api.snapshot.yaml", NOVA, str(REPO)).lines() == []


def test_comparing_files_reports_keys_and_types(tmp_path):
    (tmp_path / "a.sql").write_text(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n VARCHAR(10) NOT NULL, p INTEGER,\n"
        "  FOREIGN KEY (p) REFERENCES t (id));\nCREATE INDEX ix_n ON t (n);\n"
    )
    (tmp_path / "b.sql").write_text(
        "CREATE TABLE t (id INTEGER, n VARCHAR(20), p INTEGER, PRIMARY KEY (id, n));\n"
    )
    lines = check_drift("a.sql:sqlite", "b.sql:sqlite", str(tmp_path)).lines()
    # SQLite lets a primary key column hold NULL unless it says NOT NULL
    assert lines == [
        "table t: column n: documented NOT NULL, live NULL",
        "table t: column n: documented VARCHAR(10), live VARCHAR(20)",
        "table t: foreign key (p) -> t (id): documented, missing live",
        "table t: index (n): documented, missing live",
        "table t: primary key: documented (id), live (id, n)",
    ]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("DATETIME", "TIMESTAMP", True),
        ("NUMERIC(10, 2)", "DECIMAL(10,2)", True),
        ("BOOLEAN", "TINYINT(1)", True),
        ("VARCHAR(255)", "VARCHAR", True),
        ("VARCHAR(255)", "VARCHAR(100)", False),
        ("VARCHAR(255)", "TEXT", False),
        ("INTEGER", "BIGINT", False),
    ],
)
def test_types_are_compared_across_dialects(a, b, same):
    assert same_type(a, b) is same


# -- allow-list ----------------------------------------------------------------------------


def test_allow_list_accepts_with_reasons_and_reports_stale_entries(nova_sqlite, tmp_path):
    execute(
        nova_sqlite,
        "CREATE TABLE shadow_instances (id INTEGER PRIMARY KEY)",
        "ALTER TABLE cell_mappings ADD COLUMN extra VARCHAR(10)",
    )
    allow = tmp_path / "allow.yaml"
    allow.write_text(
        "- table: shadow_*\n  reason: written by nova-manage db archive\n"
        "- table: flavors\n  column: description\n  reason: dropped in Z\n"
    )
    report = check_drift(NOVA, nova_sqlite, str(REPO), allow=load_allow(str(allow)))
    assert [str(d) for d, _ in report.allowed] == ["table shadow_instances: live, not documented"]
    assert report.lines() == [
        "table cell_mappings: column extra: live VARCHAR(10), not documented",
        f"{allow}:3: allow-list entry (table flavors, column description) matches no "
        "difference any more; remove it",
    ]
    assert report.drift


def test_only_a_stale_entry_is_still_drift(nova_sqlite, tmp_path, capsys, monkeypatch):
    allow = tmp_path / "allow.yaml"
    allow.write_text("- table: shadow_*\n  reason: archive tables\n")
    monkeypatch.chdir(REPO)
    assert main(["schema-diff", "--allow", str(allow), NOVA, nova_sqlite]) == 1
    assert "matches no difference any more; remove it" in capsys.readouterr().out


def test_allow_entry_without_reason_is_bad_input(tmp_path, capsys, nova_sqlite, monkeypatch):
    allow = tmp_path / "allow.yaml"
    allow.write_text("- table: shadow_*\n- table: x\n  reason: ''\n")
    with pytest.raises(SchemaError) as info:
        load_allow(str(allow))
    assert info.value.line == 1 and "has no reason" in info.value.message
    monkeypatch.chdir(REPO)
    assert main(["schema-diff", "--allow", str(allow), NOVA, nova_sqlite]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{allow}:1:" in err


# -- bad input and unreachable databases ---------------------------------------------------


def test_unreachable_server_is_exit_3_with_masked_url(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    # port 1 on loopback: nothing listens there, the refusal is immediate
    rc = main(["schema-diff", NOVA, "postgresql://nova:s3cret@127.0.0.1:1/nova"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "postgresql://nova:*****@127.0.0.1:1/nova" in err and "s3cret" not in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_missing_sqlite_file_is_unreachable_and_not_created(tmp_path):
    with pytest.raises(DatabaseUnreachable, match="no SQLite database at"):
        check_drift(load_schema(NOVA, str(REPO)), "sqlite:///missing.db", str(tmp_path))
    assert not (tmp_path / "missing.db").exists()


def test_unset_variable_in_url_is_bad_input(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("LABBOOK_NO_SUCH_VAR", raising=False)
    assert main(["schema-diff", NOVA, "postgresql://u:${LABBOOK_NO_SUCH_VAR}@h/d"]) == 2
    assert "${LABBOOK_NO_SUCH_VAR}, which is not set" in capsys.readouterr().err
