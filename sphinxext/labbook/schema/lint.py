"""Lint a schema: rules in the spirit of tbls' lint, each of which can be switched off."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ..errors import SchemaError
from .model import Schema, Table


@dataclass(frozen=True)
class Finding:
    rule: str
    table: str
    message: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"table {self.table}" + (f": column {self.column}" if self.column else "")
        return f"{where}: {self.message} [{self.rule}]"


def _no_primary_key(t: Table) -> Iterator[Finding]:
    if not t.primary_key:
        yield Finding("no-primary-key", t.name, "no primary key")


def _indexed_prefixes(t: Table) -> set[tuple[str, ...]]:
    """Column lists an index can look up by: every leading part of every index and key."""
    lists = [i.columns for i in t.indexes] + [u.columns for u in t.unique_constraints]
    lists.append(t.primary_key)
    return {tuple(cols[:n]) for cols in lists for n in range(1, len(cols) + 1)}


def _fk_without_index(t: Table) -> Iterator[Finding]:
    prefixes = _indexed_prefixes(t)
    for fk in t.foreign_keys:
        # an index on the key's columns in any order serves it
        if not any(set(p) == set(fk.columns) for p in prefixes):
            yield Finding(
                "fk-without-index",
                t.name,
                f"foreign key ({', '.join(fk.columns)}) -> {fk.ref_table} has no index; "
                "deletes and joins on it scan the table",
            )


def _no_table_comment(t: Table) -> Iterator[Finding]:
    if not t.comment:
        yield Finding("table-comment", t.name, "no comment (nor a docstring on its model)")


def _no_column_comment(t: Table) -> Iterator[Finding]:
    for c in t.columns:
        if not c.comment and c.name not in t.primary_key and c.name not in t.fk_columns:
            yield Finding("column-comment", t.name, "no comment", c.name)


#: rule name -> (what it checks, the check)
RULES: dict[str, tuple[str, Callable[[Table], Iterator[Finding]]]] = {
    "no-primary-key": ("every table has a primary key", _no_primary_key),
    "fk-without-index": ("every foreign key has an index on its columns", _fk_without_index),
    "table-comment": ("every table has a comment or a model docstring", _no_table_comment),
    "column-comment": ("every column but the keys has a comment", _no_column_comment),
}


def check_rules(names: Iterable[str], what: str = "rule") -> tuple[str, ...]:
    """``names`` as rule names, or a SchemaError saying which ones exist."""
    out = tuple(names)
    unknown = [n for n in out if n not in RULES]
    if unknown:
        raise SchemaError(
            f"unknown lint {what} {', '.join(unknown)}; write one of {', '.join(RULES)}"
        )
    return out


def lint(schema: Schema, disabled: Iterable[str] = ()) -> list[Finding]:
    """What the rules not in ``disabled`` find, by table then rule."""
    off = set(check_rules(disabled))
    return [
        finding
        for t in schema
        for name, (_, rule) in RULES.items()
        if name not in off
        for finding in rule(t)
    ]
