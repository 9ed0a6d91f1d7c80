"""Snapshots: a schema as sorted JSON or YAML, so a docs build needs no code and no database."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml

from ..errors import SchemaError, SpecError
from ..report import write_atomic
from ..spec import yamlmarks
from .model import Column, ForeignKey, Index, Schema, Table, UniqueConstraint

FORMAT = "labbook-schema/1"
SUFFIXES = (".json", ".yaml", ".yml")


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, [], ())}


def _table(t: Table) -> dict[str, Any]:
    return _compact(
        {
            "columns": [
                _compact(
                    {
                        "name": c.name,
                        "type": c.type,
                        "nullable": c.nullable,
                        "variants": dict(c.variants) or None,
                        "default": c.default,
                        "comment": c.comment,
                    }
                )
                for c in t.columns
            ],
            "comment": t.comment,
            "primary_key": list(t.primary_key),
            "foreign_keys": [
                _compact(
                    {
                        "columns": list(f.columns),
                        "ref_table": f.ref_table,
                        "ref_columns": list(f.ref_columns),
                        "name": f.name,
                        "ref_schema": f.ref_schema,
                        "ondelete": f.ondelete,
                        "onupdate": f.onupdate,
                    }
                )
                for f in t.foreign_keys
            ],
            "indexes": [
                _compact({"name": i.name, "columns": list(i.columns), "unique": i.unique})
                for i in t.indexes
            ],
            "unique_constraints": [
                _compact({"name": u.name, "columns": list(u.columns)}) for u in t.unique_constraints
            ],
        }
    )


def to_dict(schema: Schema) -> dict[str, Any]:
    return _compact(
        {
            "format": FORMAT,
            "schema": schema.name,
            "source": schema.source or None,
            "tables": {t.name: _table(t) for t in schema.tables},
        }
    )


def dumps(schema: Schema, fmt: str) -> str:
    """The snapshot text: every key sorted, so the same schema gives the same bytes."""
    data = to_dict(schema)
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    # Flow style for the innermost lists and mappings keeps one column per line.
    return yaml.safe_dump(
        data, sort_keys=True, default_flow_style=None, allow_unicode=True, width=100
    )


def write_snapshot(schema: Schema, path: str) -> None:
    fmt = "json" if path.endswith(".json") else "yaml"
    write_atomic(path, dumps(schema, fmt).encode())


class _Reader:
    def __init__(self, marked: yamlmarks.Marked, path: str) -> None:
        self.marked, self.path = marked, path

    def fail(self, where: tuple[str | int, ...], message: str) -> SchemaError:
        mark = self.marked.mark(where)
        return SchemaError(message, file=self.path, line=mark.line)

    def get(
        self,
        where: tuple[str | int, ...],
        data: dict[str, Any],
        key: str,
        kind: type,
        default: Any = None,
    ) -> Any:
        value = data.get(key, default)
        if value is None and default is None:
            raise self.fail(where, f"missing '{key}'; write {key}: ...")
        if not isinstance(value, kind):
            raise self.fail((*where, key), f"'{key}' must be a {kind.__name__}")
        return value

    def names(
        self, where: tuple[str | int, ...], data: dict[str, Any], key: str, required: bool = False
    ) -> tuple[str, ...]:
        value = self.get(where, data, key, list, None if required else [])
        return tuple(str(v) for v in value)

    def table(self, name: str, data: Any) -> Table:
        at: tuple[str | int, ...] = ("tables", name)
        if not isinstance(data, dict):
            raise self.fail(at, f"table {name} must be a mapping with columns: [...]")
        cols = []
        for i, c in enumerate(self.get(at, data, "columns", list)):
            here = (*at, "columns", i)
            if not isinstance(c, dict):
                raise self.fail(here, "a column must be a mapping {name: ..., type: ...}")
            variants = self.get(here, c, "variants", dict, {})
            cols.append(
                Column(
                    str(self.get(here, c, "name", str)),
                    str(self.get(here, c, "type", str)),
                    bool(self.get(here, c, "nullable", bool, True)),
                    tuple(sorted((str(k), str(v)) for k, v in variants.items())),
                    self.optional(here, c, "default"),
                    self.optional(here, c, "comment"),
                )
            )
        fks = [
            ForeignKey(
                self.names((*at, "foreign_keys", i), f, "columns", True),
                str(self.get((*at, "foreign_keys", i), f, "ref_table", str)),
                self.names((*at, "foreign_keys", i), f, "ref_columns", True),
                f.get("name"),
                f.get("ref_schema"),
                f.get("ondelete"),
                f.get("onupdate"),
            )
            for i, f in enumerate(self.get(at, data, "foreign_keys", list, []))
        ]
        idx = [
            Index(
                i.get("name"),
                self.names((*at, "indexes", n), i, "columns", True),
                bool(i.get("unique", False)),
            )
            for n, i in enumerate(self.get(at, data, "indexes", list, []))
        ]
        uqs = [
            UniqueConstraint(
                u.get("name"), self.names((*at, "unique_constraints", n), u, "columns", True)
            )
            for n, u in enumerate(self.get(at, data, "unique_constraints", list, []))
        ]
        line = self.marked.key_mark(at).line
        return Table(
            name,
            tuple(cols),
            self.names(at, data, "primary_key"),
            tuple(fks),
            tuple(idx),
            tuple(uqs),
            file=self.path,
            line=line,
            comment=self.optional(at, data, "comment"),
        )

    def optional(self, where: tuple[str | int, ...], data: dict[str, Any], key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail((*where, key), f"'{key}' must be a str")
        return value


def read_marked(path: str, what: str) -> yamlmarks.Marked:
    """The YAML (or JSON) file ``path`` with the line of every value; ``what`` names it in
    errors (a snapshot, an allow-list)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SchemaError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        marked, errors = yamlmarks.load(text, path)
    except SpecError as exc:
        raise SchemaError(exc.message, file=path, line=exc.line) from None
    if errors:
        raise SchemaError(errors[0].message, file=path, line=errors[0].line)
    return marked


def load_snapshot(path: str, source: str = "") -> Schema:
    """The schema a snapshot file holds (JSON or YAML, as ``labbook schema snapshot`` wrote)."""
    marked = read_marked(path, "snapshot")
    data = marked.data
    reader = _Reader(marked, path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise reader.fail(
            ("format",),
            f"not a labbook schema snapshot (format: {FORMAT}); "
            "write one with 'labbook schema snapshot SOURCE -o FILE'",
        )
    tables = reader.get((), data, "tables", dict, {})
    return Schema(
        tuple(reader.table(str(n), t) for n, t in tables.items()),
        name=data.get("schema"),
        source=source or path,
        files=(os.path.abspath(path),),
    )
