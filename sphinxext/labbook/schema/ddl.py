"""Load a schema from a DDL file (SQLite, PostgreSQL or MySQL dialect), reporting what it skips."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from ..errors import SchemaError
from .model import Column, ForeignKey, Index, Note, Schema, Table, UniqueConstraint
from .sqla import Verbatim, fk_action, parse_type, type_text
from .url import reflect_connection

#: Dialect names a source may give after the file (``schemas/x.sql:postgres``).
DIALECTS = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "generic": "",
}
#: Statements that carry data or session state, not schema: skipped without a note.
_DATA = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Drop,
    exp.Comment,
    exp.Select,
)
#: ALTER statements: exp.Alter (its kind says what is altered) in newer sqlglot, exp.AlterTable
#: in 25.0, the oldest we support.
_ALTER: type[exp.Expression] = getattr(exp, "Alter", None) or vars(exp)["AlterTable"]
_SESSION_COMMANDS = ("LOCK", "UNLOCK", "BEGIN", "START", "SET", "USE", "SELECT PG_CATALOG")


@dataclass
class _TableBuilder:
    name: str
    line: int
    columns: list[Column] = field(default_factory=list)
    pk: list[str] = field(default_factory=list)
    fks: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    uniques: list[UniqueConstraint] = field(default_factory=list)

    def freeze(self, file: str, tables: dict[str, _TableBuilder]) -> Table:
        pk = set(self.pk)
        cols = tuple(Column(c.name, c.type, c.nullable and c.name not in pk) for c in self.columns)
        fks = []
        for fk in self.fks:
            ref = tables.get(fk.ref_table)
            # REFERENCES t without columns means t's primary key.
            if not fk.ref_columns and ref is not None:
                fk = replace(fk, ref_columns=tuple(ref.pk))
            fks.append(fk)
        return Table(
            self.name,
            cols,
            tuple(self.pk),
            tuple(fks),
            tuple(self.indexes),
            tuple(self.uniques),
            file=file,
            line=self.line,
        )


def _names(node: exp.Expression | None) -> tuple[str, ...]:
    if node is None:
        return ()
    items = node.expressions if isinstance(node, exp.Schema) else [node]
    return tuple(i.name for i in items)


def _column_type(dt: exp.DataType | None, dialect: str) -> str:
    if dt is None:
        return "NULL"
    text = dt.sql(dialect=dialect or None)
    parsed = parse_type(text)
    return text if isinstance(parsed, Verbatim) else type_text(parsed)


def _reference(cols: tuple[str, ...], ref: exp.Reference, name: str | None) -> ForeignKey:
    target = ref.this
    table = target.this if isinstance(target, exp.Schema) else target
    actions: dict[str, str | None] = {"DELETE": None, "UPDATE": None}
    for option in ref.args.get("options") or []:
        m = re.match(r"ON\s+(DELETE|UPDATE)\s+(.+)", str(option).strip(), re.I)
        if m:
            actions[m.group(1).upper()] = fk_action(m.group(2))
    return ForeignKey(
        cols,
        table.name,
        _names(target) if isinstance(target, exp.Schema) else (),
        name,
        ondelete=actions["DELETE"],
        onupdate=actions["UPDATE"],
    )


def _column(tb: _TableBuilder, cd: exp.ColumnDef, dialect: str) -> None:
    nullable = True
    for cons in cd.constraints:
        kind = cons.kind
        if isinstance(kind, exp.NotNullColumnConstraint):
            nullable = bool(kind.args.get("allow_null"))
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            tb.pk.append(cd.name)
        elif isinstance(kind, exp.UniqueColumnConstraint):
            tb.uniques.append(UniqueConstraint(None, (cd.name,)))
        elif isinstance(kind, exp.Reference):
            tb.fks.append(_reference((cd.name,), kind, None))
    tb.columns.append(Column(cd.name, _column_type(cd.args.get("kind"), dialect), nullable))


def _constraint(tb: _TableBuilder, item: exp.Expression, name: str | None) -> bool:
    """Apply a table-level constraint; False if it is not one labbook understands."""
    if isinstance(item, exp.Constraint):
        return all(_constraint(tb, e, item.name) for e in item.expressions)
    if isinstance(item, exp.PrimaryKey):
        tb.pk[:] = [e.name for e in item.expressions]
    elif isinstance(item, exp.ForeignKey):
        tb.fks.append(
            _reference(tuple(e.name for e in item.expressions), item.args["reference"], name)
        )
    elif isinstance(item, exp.UniqueColumnConstraint):
        target = item.this
        own = target.this.name if isinstance(target, exp.Schema) and target.this else None
        tb.uniques.append(UniqueConstraint(name or own, _names(target)))
    elif isinstance(item, exp.IndexColumnConstraint):
        tb.indexes.append(Index(item.name or None, tuple(e.name for e in item.expressions)))
    elif isinstance(item, (exp.CheckColumnConstraint, exp.Check)):
        pass  # CHECK constraints are not drawn and not compared
    else:
        return False
    return True


class _Reader:
    def __init__(self, path: str, dialect: str) -> None:
        self.path, self.dialect = path, dialect
        self.tables: dict[str, _TableBuilder] = {}
        self.notes: list[Note] = []

    def note(self, line: int, message: str) -> None:
        self.notes.append(Note(message, self.path, line))

    def statement(self, stmt: exp.Expression, line: int) -> None:
        if (
            isinstance(stmt, exp.Create)
            and stmt.kind == "TABLE"
            and isinstance(stmt.this, exp.Schema)
            and stmt.expression is None
        ):
            self.create_table(stmt.this, line)
        elif isinstance(stmt, exp.Create) and stmt.kind == "INDEX":
            self.create_index(stmt, line)
        elif isinstance(stmt, _ALTER) and stmt.args.get("kind", "TABLE") == "TABLE":
            self.alter_table(stmt, line)
        elif isinstance(stmt, _DATA) or (
            isinstance(stmt, exp.Command) and str(stmt.this).upper().startswith(_SESSION_COMMANDS)
        ):
            return
        else:
            self.note(
                line,
                "statement not understood, left out of the schema: "
                f"{_head(stmt.sql(dialect=self.dialect or None))}",
            )

    def create_table(self, schema: exp.Schema, line: int) -> None:
        tb = _TableBuilder(schema.this.name, line)
        self.tables[tb.name] = tb
        for item in schema.expressions:
            if isinstance(item, exp.ColumnDef):
                _column(tb, item, self.dialect)
            elif not _constraint(tb, item, None):
                self.note(
                    line,
                    f"table {tb.name}: clause not understood, left out: "
                    f"{_head(item.sql(dialect=self.dialect or None))}",
                )

    def table_for(self, table: exp.Expression, line: int, what: str) -> _TableBuilder | None:
        tb = self.tables.get(table.name)
        if tb is None:
            self.note(
                line,
                f"{what} for table {table.name}, which no CREATE TABLE before it defines; left out",
            )
        return tb

    def create_index(self, stmt: exp.Create, line: int) -> None:
        index = stmt.this
        tb = self.table_for(index.args.get("table"), line, f"index {index.name}")
        if tb is None:
            return
        params = index.args.get("params")
        cols = tuple(
            o.this.name if isinstance(o.this, exp.Column) else o.this.sql()
            for o in (params.args.get("columns") or [] if params else [])
        )
        tb.indexes.append(Index(index.name or None, cols, bool(stmt.args.get("unique"))))

    def alter_table(self, stmt: exp.Expression, line: int) -> None:
        tb = self.table_for(stmt.this, line, "ALTER TABLE")
        for action in stmt.args.get("actions") or []:
            if tb is None:
                return
            if isinstance(action, exp.ColumnDef):
                _column(tb, action, self.dialect)
            elif isinstance(action, exp.AddConstraint) and all(
                _constraint(tb, e, None) for e in action.expressions
            ):
                continue
            else:
                self.note(
                    line,
                    f"ALTER TABLE {tb.name}: action not understood, left out: "
                    f"{_head(action.sql(dialect=self.dialect or None))}",
                )

    def schema(self, source: str) -> Schema:
        tables = tuple(tb.freeze(self.path, self.tables) for tb in self.tables.values())
        return Schema(
            tables, source=source, notes=tuple(self.notes), files=(os.path.abspath(self.path),)
        )


def _head(sql: str, width: int = 60) -> str:
    one = " ".join(sql.split())
    return one if len(one) <= width else one[: width - 3] + "..."


def _chunks(tokens: list[Token]) -> Iterator[list[Token]]:
    chunk: list[Token] = []
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            if chunk:
                yield chunk
            chunk = []
        else:
            chunk.append(tok)
    if chunk:
        yield chunk


def _parse_error(exc: sqlglot.errors.ParseError, path: str, line: int) -> SchemaError:
    first = exc.errors[0] if exc.errors else {}
    what = first.get("description") or str(exc).splitlines()[0]
    return SchemaError(
        f"cannot parse this SQL: {what}; fix the statement or name its "
        "dialect (file.sql:postgres, :mysql or :sqlite)",
        file=path,
        line=first.get("line") or line,
    )


def _load_sqlglot(path: str, text: str, dialect: str, source: str) -> Schema:
    d = Dialect.get_or_raise(dialect or None)
    reader = _Reader(path, dialect)
    quiet = logging.getLogger("sqlglot")
    level, quiet.level = quiet.level, logging.ERROR  # unsupported syntax becomes our Note
    try:
        try:
            tokens = d.tokenize(text)
        except sqlglot.errors.TokenError as exc:
            raise SchemaError(f"cannot read this SQL: {exc}", file=path) from None
        for chunk in _chunks(tokens):
            try:
                statements = d.parser().parse(chunk, text)
            except sqlglot.errors.ParseError as exc:
                raise _parse_error(exc, path, chunk[0].line) from None
            for stmt in statements:
                if isinstance(stmt, exp.Expression):
                    reader.statement(stmt, chunk[0].line)
    finally:
        quiet.level = level
    return reader.schema(source)


def _sqlite_statements(text: str) -> Iterator[tuple[int, str]]:
    buf: list[str] = []
    start = 1
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if not buf and not line.strip():
            continue
        if not buf:
            start = number
        buf.append(line)
        if sqlite3.complete_statement("".join(buf)):
            yield start, "".join(buf)
            buf = []
    if "".join(buf).strip():
        yield start, "".join(buf)


def _load_sqlite(path: str, text: str, source: str) -> Schema:
    db = sqlite3.connect(":memory:")
    try:
        for line, stmt in _sqlite_statements(text):
            try:
                db.executescript(stmt)
            except sqlite3.Error as exc:
                raise SchemaError(
                    f"SQLite cannot run this statement: {exc}", file=path, line=line
                ) from None
        others = db.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger') ORDER BY name"
        ).fetchall()
        engine = sa.create_engine("sqlite://", creator=lambda: db)
        with engine.connect() as conn:
            schema = reflect_connection(conn, None, source)
    finally:
        db.close()
    notes = tuple(
        Note(f"{kind} {name} is not part of the schema model", path) for kind, name in others
    )
    return Schema(
        tuple(
            Table(
                t.name,
                t.columns,
                t.primary_key,
                t.foreign_keys,
                t.indexes,
                t.unique_constraints,
                file=path,
            )
            for t in schema.tables
        ),
        source=source,
        notes=notes,
        files=(os.path.abspath(path),),
    )


def load_ddl(path: str, dialect: str | None = None, source: str = "") -> Schema:
    """The schema that the DDL file ``path`` creates, in ``dialect`` (default: generic SQL)."""
    name = (dialect or "generic").lower()
    if name not in DIALECTS:
        raise SchemaError(
            f"unknown SQL dialect {dialect!r}; write one of {', '.join(sorted(DIALECTS))}"
        )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SchemaError(f"cannot read {path}: {exc.strerror}") from None
    if DIALECTS[name] == "sqlite":
        return _load_sqlite(path, text, source or path)
    return _load_sqlglot(path, text, DIALECTS[name], source or path)
