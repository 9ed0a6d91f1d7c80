"""Drift between a documented schema and the real one; alembic compares against databases."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from .model import Schema, Table
from .sqla import fk_from, to_metadata, type_text

#: How a foreign key with no ON DELETE/ON UPDATE is shown next to one that has them.
NO_ACTION = "no ON DELETE/UPDATE action"


class Kind(StrEnum):
    TABLE = "table"
    COLUMN = "column"
    TYPE = "type"
    NULLABLE = "nullable"
    PRIMARY_KEY = "primary_key"
    FOREIGN_KEY = "foreign_key"
    INDEX = "index"
    UNIQUE = "unique"


@dataclass(frozen=True)
class Difference:
    """One way the two schemas disagree; ``None`` on a side means "absent there"."""

    table: str
    subject: str
    kind: Kind
    documented: str | None
    live: str | None

    def sort_key(self) -> tuple[str, ...]:
        return (self.table, self.subject, self.kind, self.documented or "", self.live or "")

    def __str__(self) -> str:
        head = f"table {self.table}" + (f": {self.subject}" if self.subject else "")
        if self.documented is not None and self.live is not None:
            return f"{head}: documented {self.documented}, live {self.live}"
        if self.live is None:
            return f"{head}: documented{_sp(self.documented)}, missing live"
        return f"{head}: live{_sp(self.live)}, not documented"

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "subject": self.subject,
            "kind": str(self.kind),
            "documented": self.documented,
            "live": self.live,
            "message": str(self),
        }


def _sp(text: str | None) -> str:
    return f" {text}" if text else ""


def _cols(columns: Iterable[str]) -> str:
    return "(" + ", ".join(columns) + ")"


def _fk_subject(columns: Iterable[str], ref_table: str, ref_columns: Iterable[str]) -> str:
    return f"foreign key {_cols(columns)} -> {ref_table} {_cols(ref_columns)}"


#: Type names that mean the same thing in different dialects (compared without arguments
#: when only one side has them, as alembic does).
SYNONYMS = (
    {"DATETIME", "TIMESTAMP"},
    {"NUMERIC", "DECIMAL"},
    {"BOOLEAN", "BOOL", "TINYINT(1)"},
    {"FLOAT", "DOUBLE", "DOUBLE PRECISION"},
    {"TEXT", "CLOB"},
    {"BLOB", "BYTEA", "LONGBLOB"},
    {"JSON", "LONGTEXT"},
    {"UUID", "CHAR(32)"},
    {"INTEGER", "INT"},
    {"VARCHAR", "CHARACTER VARYING", "NVARCHAR"},
)
_NAME_ARGS = re.compile(r"^([^(]*?)\s*(?:\((.*)\))?\s*$")


def _family(text: str) -> str:
    for group in SYNONYMS:
        if text in group:
            return min(group)
    return text


def same_type(a: str, b: str) -> bool:
    """Whether two normalized type texts name the same type (across dialects)."""
    a, b = a.upper(), b.upper()
    if a == b or _family(a) == _family(b):
        return True
    ma, mb = _NAME_ARGS.match(a), _NAME_ARGS.match(b)
    if not ma or not mb or _family(ma.group(1)) != _family(mb.group(1)):
        return False
    args_a = (ma.group(2) or "").replace(" ", "")
    args_b = (mb.group(2) or "").replace(" ", "")
    return not args_a or not args_b or args_a == args_b


def primary_key_diffs(documented: Schema, live: Schema) -> list[Difference]:
    """Primary keys of tables on both sides (alembic does not compare them)."""
    out = []
    for d in documented:
        lv = live.table(d.name)
        if lv is not None and d.primary_key != lv.primary_key:
            out.append(
                Difference(
                    d.name,
                    "primary key",
                    Kind.PRIMARY_KEY,
                    _cols(d.primary_key) if d.primary_key else "none",
                    _cols(lv.primary_key) if lv.primary_key else "none",
                )
            )
    return out


def _column_diffs(d: Table, lv: Table) -> Iterator[Difference]:
    for c in d.columns:
        other = lv.column(c.name)
        subject = f"column {c.name}"
        if other is None:
            yield Difference(d.name, subject, Kind.COLUMN, c.type, None)
            continue
        if not same_type(c.type, other.type):
            yield Difference(d.name, subject, Kind.TYPE, c.type, other.type)
        if c.nullable != other.nullable:
            yield Difference(
                d.name, subject, Kind.NULLABLE, _null(c.nullable), _null(other.nullable)
            )
    for c in lv.columns:
        if d.column(c.name) is None:
            yield Difference(d.name, f"column {c.name}", Kind.COLUMN, None, c.type)


def _null(nullable: bool) -> str:
    return "NULL" if nullable else "NOT NULL"


def _signatures(t: Table) -> dict[tuple[Kind, str], str]:
    """Keys and indexes by what they do, not by name (names differ between dialects)."""
    sig: dict[tuple[Kind, str], str] = {}
    for fk in t.foreign_keys:
        sig[(Kind.FOREIGN_KEY, _fk_subject(fk.columns, fk.ref_table, fk.ref_columns))] = fk.actions
    uniques = {u.columns for u in t.unique_constraints} | {i.columns for i in t.indexes if i.unique}
    for cols in uniques:
        sig[(Kind.UNIQUE, f"unique {_cols(cols)}")] = ""
    for i in t.indexes:
        if not i.unique:
            sig[(Kind.INDEX, f"index {_cols(i.columns)}")] = ""
    return sig


def compare_schemas(documented: Schema, live: Schema) -> list[Difference]:
    """Differences between two schemas read from files (no database to ask)."""
    out: list[Difference] = []
    for name in sorted(set(documented.names) | set(live.names)):
        d, lv = documented.table(name), live.table(name)
        if d is None or lv is None:
            out.append(Difference(name, "", Kind.TABLE, "" if d else None, "" if lv else None))
            continue
        out += _column_diffs(d, lv)
        ds, ls = _signatures(d), _signatures(lv)
        out += [Difference(name, s, k, ds[(k, s)], None) for k, s in ds.keys() - ls.keys()]
        out += [Difference(name, s, k, None, ls[(k, s)]) for k, s in ls.keys() - ds.keys()]
        out += [
            Difference(name, s, k, ds[(k, s)] or NO_ACTION, ls[(k, s)] or NO_ACTION)
            for k, s in ds.keys() & ls.keys()
            if ds[(k, s)] != ls[(k, s)]
        ]
    return sorted(out + primary_key_diffs(documented, live), key=Difference.sort_key)


def _flatten(diffs: list[Any]) -> Iterator[tuple[Any, ...]]:
    for d in diffs:
        if isinstance(d, list):
            yield from _flatten(d)
        else:
            yield d


def _alembic_one(d: tuple[Any, ...], documented: Schema) -> Difference | None:
    op = d[0]
    side = (lambda x: (x, None)) if op.startswith("add_") else (lambda x: (None, x))
    if op in ("add_table", "remove_table"):
        return Difference(d[1].name, "", Kind.TABLE, *side(""))
    if op in ("add_column", "remove_column"):
        table, col = d[2], d[3]
        doc = documented.table(table)
        dcol = doc.column(col.name) if doc else None
        text = dcol.type if dcol is not None and op == "add_column" else type_text(col.type)
        return Difference(table, f"column {col.name}", Kind.COLUMN, *side(text))
    if op == "modify_type":
        table, column, live_type = d[2], d[3], d[5]
        doc = documented.table(table)
        dcol = doc.column(column) if doc else None
        doc_text = dcol.type if dcol is not None else type_text(d[6])
        live_text = type_text(live_type)
        if doc_text == live_text:
            return None  # alembic compares enums by name on PostgreSQL; the values agree
        return Difference(table, f"column {column}", Kind.TYPE, doc_text, live_text)
    if op == "modify_nullable":
        return Difference(d[2], f"column {d[3]}", Kind.NULLABLE, _null(d[6]), _null(d[5]))
    if op in ("add_index", "remove_index"):
        idx: sa.Index = d[1]
        cols = _cols(str(getattr(e, "name", e)) for e in idx.expressions)
        kind = Kind.UNIQUE if idx.unique else Kind.INDEX
        return Difference(
            idx.table.name if idx.table is not None else "",
            f"index {idx.name}",
            kind,
            *side(("unique " if idx.unique else "") + cols),
        )
    if op in ("add_constraint", "remove_constraint") and isinstance(d[1], sa.UniqueConstraint):
        uq: sa.UniqueConstraint = d[1]
        return Difference(
            uq.table.name,
            f"unique {uq.name or ''}".rstrip(),
            Kind.UNIQUE,
            *side(_cols(c.name for c in uq.columns)),
        )
    if op in ("add_fk", "remove_fk"):
        fk = fk_from(d[1])
        subject = _fk_subject(fk.columns, fk.ref_table, fk.ref_columns)
        return Difference(d[1].table.name, subject, Kind.FOREIGN_KEY, *side(fk.actions))
    return None  # comments and server defaults are not compared


def _merge_changed(diffs: list[Difference]) -> list[Difference]:
    """A key or index removed and added under one name was changed: one difference."""
    by_key: dict[tuple[str, str, Kind], list[Difference]] = {}
    for d in diffs:
        by_key.setdefault((d.table, d.subject, d.kind), []).append(d)
    out = []
    for group in by_key.values():
        doc = next((g for g in group if g.live is None), None)
        live = next((g for g in group if g.documented is None), None)
        if len(group) == 2 and doc and live:
            # the same name (or, for foreign keys, the same columns) on both sides
            out.append(
                replace(doc, documented=doc.documented or NO_ACTION, live=live.live or NO_ACTION)
            )
        else:
            out += group
    return out


def from_alembic(diffs: list[Any], documented: Schema) -> list[Difference]:
    """labbook's differences for what ``alembic.autogenerate.compare_metadata`` found."""
    out = [x for x in (_alembic_one(d, documented) for d in _flatten(diffs)) if x is not None]
    whole = {d.table for d in out if d.kind == Kind.TABLE}
    # A table missing on one side is one difference, not one per index of it.
    out = [d for d in out if d.kind == Kind.TABLE or d.table not in whole]
    return _merge_changed(out)


def compare_connection(
    documented: Schema, conn: sa.Connection, live: Schema, name: str | None = None
) -> list[Difference]:
    """Differences between ``documented`` and the database behind ``conn`` (reflected as
    ``live``), found by alembic's autogenerate comparison plus primary keys."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    target = to_metadata(replace(documented, name=name), dialect=conn.dialect)
    opts: dict[str, Any] = {"compare_type": True, "target_metadata": target}
    if name:
        opts["include_schemas"] = True
        opts["include_name"] = lambda n, kind, parent: kind != "schema" or n == name
    diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), target)
    return sorted(
        from_alembic(diffs, documented) + primary_key_diffs(documented, live),
        key=Difference.sort_key,
    )
