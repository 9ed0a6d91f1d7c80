"""What SQLite reports for a table, made to say what its DDL declared.

SQLAlchemy's reflection of SQLite misses what only the table's SQL text says: a rowid alias
(``INTEGER PRIMARY KEY``) cannot hold NULL but is reported nullable; a column's inline
``UNIQUE`` and ``REFERENCES ... ON DELETE`` are not reported. SQLite's own pragmas say them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from .model import Column, ForeignKey, Schema, Table, UniqueConstraint
from .sqla import fk_action


def _pragma(conn: sa.Connection, pragma: str, table: str) -> list[Any]:
    quoted = conn.dialect.identifier_preparer.quote(table)
    return list(conn.exec_driver_sql(f"PRAGMA {pragma}({quoted})"))


def _rowid_alias(t: Table) -> str | None:
    if len(t.primary_key) != 1:
        return None
    col = t.column(t.primary_key[0])
    return col.name if col is not None and col.type.upper() == "INTEGER" else None


def _uniques(conn: sa.Connection, t: Table) -> tuple[UniqueConstraint, ...]:
    """Every UNIQUE constraint (inline or not); names as SQLAlchemy found them."""
    names = {u.columns: u.name for u in t.unique_constraints}
    found = []
    for row in _pragma(conn, "index_list", t.name):
        # columns: seq, name, unique, origin ('u': a UNIQUE constraint), partial
        if row[3] != "u":
            continue
        cols = tuple(str(r[2]) for r in sorted(_pragma(conn, "index_info", str(row[1]))))
        found.append(UniqueConstraint(names.get(cols), cols))
    return tuple(found)


def _foreign_keys(conn: sa.Connection, t: Table) -> tuple[ForeignKey, ...]:
    """Foreign keys with the ON DELETE/UPDATE actions SQLite enforces."""
    actions: dict[tuple[tuple[str, ...], str], tuple[str | None, str | None]] = {}
    groups: dict[int, list[Any]] = {}
    for row in _pragma(conn, "foreign_key_list", t.name):
        # id, seq, table, from, to, on_update, on_delete, match
        groups.setdefault(int(row[0]), []).append(row)
    for rows in groups.values():
        cols = tuple(str(r[3]) for r in sorted(rows, key=lambda r: r[1]))
        actions[(cols, str(rows[0][2]))] = (fk_action(str(rows[0][6])), fk_action(str(rows[0][5])))
    out = []
    for fk in t.foreign_keys:
        ondelete, onupdate = actions.get((fk.columns, fk.ref_table), (fk.ondelete, fk.onupdate))
        out.append(replace(fk, ondelete=ondelete, onupdate=onupdate))
    return tuple(out)


def _table(conn: sa.Connection, t: Table) -> Table:
    rowid = _rowid_alias(t)
    columns = tuple(
        Column(c.name, c.type, False, c.variants, c.default, c.comment) if c.name == rowid else c
        for c in t.columns
    )
    return replace(
        t,
        columns=columns,
        unique_constraints=_uniques(conn, t),
        foreign_keys=_foreign_keys(conn, t),
    )


def sqlite_as_declared(conn: sa.Connection, schema: Schema) -> Schema:
    """``schema`` as reflected from the SQLite database behind ``conn``, corrected."""
    return replace(schema, tables=tuple(_table(conn, t) for t in schema.tables))
