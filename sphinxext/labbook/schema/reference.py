"""A per-table reference: what a reader of the docs wants to know about each table."""

from __future__ import annotations

from dataclasses import dataclass

from .model import ForeignKey, Schema, Table


@dataclass(frozen=True)
class ColumnRef:
    name: str
    type: str  # as the database of the chosen dialect stores it
    nullable: bool
    default: str | None
    comment: str | None
    keys: tuple[str, ...]  # PK, FK, UK


@dataclass(frozen=True)
class TableRef:
    name: str
    comment: str | None
    columns: tuple[ColumnRef, ...]
    indexes: tuple[str, ...]
    outgoing: tuple[ForeignKey, ...]
    incoming: tuple[tuple[str, ForeignKey], ...]  # (referencing table, its key)


def _indexes(t: Table) -> tuple[str, ...]:
    out = [f"primary key ({', '.join(t.primary_key)})"] if t.primary_key else []
    out += [
        f"{'unique index' if i.unique else 'index'} {i.name or ''} ({', '.join(i.columns)})"
        for i in t.indexes
    ]
    out += [f"unique {u.name or ''} ({', '.join(u.columns)})" for u in t.unique_constraints]
    return tuple(" ".join(x.split()) for x in out)


def references(
    schema: Schema, names: tuple[str, ...] | None = None, dialect: str | None = None
) -> list[TableRef]:
    """The reference of each table in ``names`` (default: all), types as ``dialect`` (default:
    the schema's own) stores them; foreign keys in come from the whole schema."""
    dialect = dialect or schema.dialect
    incoming: dict[str, list[tuple[str, ForeignKey]]] = {}
    for t in schema:
        for fk in t.foreign_keys:
            incoming.setdefault(fk.ref_table, []).append((t.name, fk))
    wanted = set(schema.names if names is None else names)
    return [
        TableRef(
            t.name,
            t.comment,
            tuple(
                ColumnRef(
                    c.name, c.type_in(dialect), c.nullable, c.default, c.comment, t.keys_of(c.name)
                )
                for c in t.columns
            ),
            _indexes(t),
            t.foreign_keys,
            tuple(sorted(incoming.get(t.name, []), key=lambda p: (p[0], p[1].sort_key()))),
        )
        for t in schema
        if t.name in wanted
    ]
