"""Round trips on real engines: a schema made from models, from DDL or from a dump of itself
shows no drift; each kind of drift is found exactly once.

The schema (tests/data/schema/shop.py) has dialect variants, a TypeDecorator with dialect
impls, a native enum, unique indexes, a one-to-one key, composite and self-referencing keys
and soft-delete columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from dbservers import dump_schema, fresh_database

from sphinxext.labbook.cli import main
from sphinxext.labbook.schema.diff import Kind
from sphinxext.labbook.schema.drift import check_drift
from sphinxext.labbook.schema.model import Column, Schema, Table
from sphinxext.labbook.schema.orm import import_file
from sphinxext.labbook.schema.source import load_schema

DATA = Path(__file__).parent / "data" / "schema"
SHOP = f"{DATA / 'shop.py'}:Base"
ENGINES = ("sqlite", "postgresql", "mariadb")
#: The DDL dialect name labbook reads each engine's SQL in.
DDL_DIALECT = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql"}


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each engine: a SQLite file, or a database on the
    PostgreSQL or MariaDB server the tests start (tests/dbservers.py)."""
    if request.param == "sqlite":
        path = tmp_path / "shop.db"
        sa.create_engine(f"sqlite:///{path}").connect().close()  # an empty database file
        yield f"sqlite:///{path}"
        return
    with fresh_database(request.getfixturevalue(f"{request.param}_server")) as url:
        yield url


def shop_metadata() -> sa.MetaData:
    return import_file(str(DATA / "shop.py")).Base.metadata  # type: ignore[no-any-return]


def run(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for s in statements:
            conn.exec_driver_sql(s)
    engine.dispose()


def create_all(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    shop_metadata().create_all(engine)
    engine.dispose()


def ddl_of(dialect: sa.Dialect) -> str:
    """The DDL that create_all would run on ``dialect``, as one SQL file."""
    md = shop_metadata()
    out: list[str] = []
    if dialect.name == "postgresql":
        for t in md.sorted_tables:
            for c in t.columns:
                if isinstance(c.type, sa.Enum):
                    values = ", ".join(f"'{v}'" for v in c.type.enums)
                    out.append(f"CREATE TYPE {c.type.name} AS ENUM ({values})")
    for t in md.sorted_tables:
        out.append(str(sa.schema.CreateTable(t).compile(dialect=dialect)).strip())
        out += [str(sa.schema.CreateIndex(i).compile(dialect=dialect)) for i in t.indexes]
    return ";\n\n".join(out) + ";\n"


def backend(url: str) -> str:
    return sa.engine.make_url(url).get_backend_name()


# -- no drift -----------------------------------------------------------------------------


def test_models_to_database_is_no_drift(database):
    create_all(database)
    assert check_drift(SHOP, database).lines() == []


def test_models_resolve_variants_and_dialect_impls_per_engine():
    customer = load_schema(SHOP).table("customer")
    orders = load_schema(SHOP).table("orders")
    assert customer is not None and orders is not None
    ident, notes, address = (customer.column(n) for n in ("id", "notes", "last_address"))
    assert ident and notes and address
    assert (ident.type, ident.type_in("sqlite"), ident.type_in("postgresql")) == (
        "BIGINT",
        "INTEGER",
        "BIGINT",
    )
    assert (notes.type_in("mysql"), notes.type_in("postgresql")) == ("MEDIUMTEXT", "TEXT")
    assert (address.type_in("postgresql"), address.type_in("mysql")) == ("INET", "VARCHAR(43)")
    total = orders.column("total")
    assert total and (total.type_in("sqlite"), total.type_in("mysql")) == (
        "INTEGER",
        "NUMERIC(12, 2)",
    )


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_snapshot_keeps_variants_and_comments(tmp_path, suffix):
    snapshot = tmp_path / f"shop{suffix}"
    assert main(["schema", "snapshot", SHOP, "-o", str(snapshot)]) == 0
    customer = load_schema(str(snapshot)).table("customer")
    assert customer is not None
    assert customer.comment == "People and companies that place orders."
    address, email = customer.column("last_address"), customer.column("email")
    assert address and address.type_in("postgresql") == "INET" and address.type == "VARCHAR(43)"
    assert email and email.comment == "Login name."


def test_ddl_to_database_is_no_drift(database, tmp_path):
    dialect = sa.create_engine(database).dialect
    sql = tmp_path / "shop.sql"
    sql.write_text(ddl_of(dialect))
    documented = f"{sql}:{DDL_DIALECT[dialect.name]}"
    schema = load_schema(documented)
    assert [str(n) for n in schema.notes] == []
    run(database, *[s for s in sql.read_text().split(";\n") if s.strip()])
    assert check_drift(documented, database).lines() == []
    # and the documented DDL against the models it came from: only what the engine changes
    assert check_drift(SHOP, documented).lines() == []


SQLITE_DDL = """\
CREATE TABLE category (
  id INTEGER PRIMARY KEY,
  parent_id INTEGER REFERENCES category (id) ON DELETE SET NULL,
  slug VARCHAR(64) NOT NULL UNIQUE,
  name TEXT
);
CREATE TABLE item (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  category_id INTEGER NOT NULL REFERENCES category (id),
  sku VARCHAR(20) NOT NULL,
  CONSTRAINT uq_item_sku UNIQUE (sku)
);
CREATE TABLE tag (
  item_id INTEGER NOT NULL REFERENCES item,
  label TEXT NOT NULL,
  UNIQUE (item_id, label)
);
CREATE UNIQUE INDEX ux_category_name ON category (name);
"""


@pytest.mark.parametrize("dialect", ["", ":sqlite"])
def test_sqlite_rowid_keys_and_inline_unique_are_no_drift(tmp_path, dialect):
    (tmp_path / "shop.sql").write_text(SQLITE_DDL)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    sa.create_engine(url).connect().close()
    run(url, *[s for s in SQLITE_DDL.split(";\n") if s.strip()])
    assert check_drift(f"shop.sql{dialect}", url, str(tmp_path)).lines() == []


# -- each kind of drift once --------------------------------------------------------------


def _edit(schema: Schema, name: str, **changes: object) -> Schema:
    tables = tuple(replace(t, **changes) if t.name == name else t for t in schema.tables)
    return replace(schema, tables=tables)


def _column(t: Table, name: str, **changes: object) -> tuple[Column, ...]:
    return tuple(replace(c, **changes) if c.name == name else c for c in t.columns)


def drifted_documentation() -> Schema:
    """The shop's schema with one change of each kind the drift check knows."""
    doc = load_schema(SHOP)

    def table(name: str) -> Table:
        t = doc.table(name)
        assert t is not None
        return t

    doc = _edit(doc, "warehouse", columns=_column(table("warehouse"), "name", type="VARCHAR(120)"))
    doc = _edit(doc, "category", columns=_column(table("category"), "slug", nullable=True))
    doc = _edit(
        doc,
        "customer",
        columns=tuple(c for c in table("customer").columns if c.name != "last_address"),
    )
    doc = _edit(
        doc, "orders", indexes=tuple(i for i in table("orders").indexes if i.name != "ix_orders_wh")
    )
    doc = _edit(doc, "profile", unique_constraints=())
    doc = _edit(doc, "shipment", foreign_keys=())
    doc = _edit(doc, "order_line", primary_key=("order_id",))
    extra = Table("coupon", (Column("code", "VARCHAR(20)", False),), ("code",))
    return replace(doc, tables=(*doc.tables, extra))


def test_each_kind_of_drift_is_found_once(database):
    create_all(database)
    report = check_drift(drifted_documentation(), database)
    kinds = sorted(d.kind for d in report.differences)
    assert kinds == sorted(Kind), report.lines()


def test_a_dropped_table_still_referenced_is_drift_exit_1(database, capsys):
    create_all(database)
    engine = backend(database)
    if engine == "postgresql":  # PostgreSQL drops the foreign keys with the table
        run(database, "DROP TABLE warehouse CASCADE")
    elif engine == "sqlite":
        run(database, "PRAGMA foreign_keys = OFF", "DROP TABLE warehouse")
    else:
        run(database, "SET FOREIGN_KEY_CHECKS = 0", "DROP TABLE warehouse")
    lines = check_drift(SHOP, database).lines()
    assert "table warehouse: documented, missing live" in lines
    assert len(lines) == (2 if engine == "postgresql" else 1), lines
    assert main(["schema-diff", SHOP, database]) == 1
    assert "cannot read" not in capsys.readouterr().err


# -- dumps --------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_dump_of_the_database_is_read_without_notes_and_shows_no_drift(request, engine, tmp_path):
    with fresh_database(request.getfixturevalue(f"{engine}_server")) as url:
        create_all(url)
        dump = tmp_path / "dump.sql"
        dump.write_text(dump_schema(url))
        source = f"{dump}:{'postgres' if engine == 'postgresql' else 'mysql'}"
        schema = load_schema(source)
        assert [str(n) for n in schema.notes] == []
        assert check_drift(source, url).lines() == []
    assert check_drift(SHOP, source).lines() == []
    assert check_drift(source, SHOP).lines() == []
