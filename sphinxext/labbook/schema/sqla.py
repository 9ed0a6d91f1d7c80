"""Between SQLAlchemy and the schema model: MetaData -> Schema, Schema -> MetaData, type text."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import CompileError, UnsupportedCompilationError
from sqlalchemy.types import TypeEngine, UserDefinedType

from .model import Column, ForeignKey, Index, Schema, Table, UniqueConstraint

#: Names other tools write for a type SQLAlchemy knows under another name.
ALIASES = {
    "INT": "INTEGER",
    "INT4": "INTEGER",
    "INT8": "BIGINT",
    "INT2": "SMALLINT",
    "SERIAL": "INTEGER",
    "BIGSERIAL": "BIGINT",
    "SMALLSERIAL": "SMALLINT",
    "BOOL": "BOOLEAN",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
    "CHARACTER VARYING": "VARCHAR",
    "CHARACTER": "CHAR",
    "DOUBLE PRECISION": "DOUBLE_PRECISION",
}
_TYPE = re.compile(r"\s*(?P<name>[A-Za-z_][\w ]*)\s*(?:\((?P<args>[^)]*)\))?\s*(?P<rest>.*)", re.S)
_DISPLAY_WIDTH = re.compile(r"^(INTEGER|INT|BIGINT|SMALLINT|MEDIUMINT|TINYINT)\((\d+)\)")
_CHARSET = re.compile(r"\s+(COLLATE|CHARACTER SET)\s+\S+", re.I)


class Verbatim(UserDefinedType[Any]):
    """A type known only by its SQL text; it is written back exactly as read."""

    cache_ok = True

    def __init__(self, text: str) -> None:
        self.text = text

    def get_col_spec(self, **kw: Any) -> str:
        return self.text


def _dialect_of(t: TypeEngine[Any]) -> Dialect:
    module = type(t).__module__
    return _dialect(module.split(".")[2] if module.startswith("sqlalchemy.dialects.") else "")


@cache
def _dialect(name: str) -> Dialect:
    """One dialect instance per name, reused: creating one costs more than compiling."""
    if not name:
        return DefaultDialect()
    from sqlalchemy.dialects import registry

    return registry.load(name)()  # type: ignore[no-any-return]


@cache
def _kind(cls: type) -> str:
    """How :func:`type_text` writes instances of ``cls`` (decided once per class)."""
    if issubclass(cls, Verbatim):
        return "verbatim"
    if issubclass(cls, sa.Enum):
        return "enum"
    if cls is sa.Uuid:
        return "uuid"
    if cls is sa.Interval:
        return "interval"
    if issubclass(cls, (sa.DateTime, sa.Time)):
        return "time"
    return ""


def type_text(t: TypeEngine[Any]) -> str:
    """Normalized SQL text of a type: the same type from any loader gives the same text."""
    cls: type = type(t)
    kind = _kind(cls)
    if kind == "verbatim":
        return t.text  # type: ignore[attr-defined, no-any-return]
    if kind == "enum":
        return "ENUM(" + ", ".join(repr(v) for v in t.enums) + ")"  # type: ignore[attr-defined]
    if kind == "uuid":
        return "UUID"
    if kind == "interval":
        return "INTERVAL"
    if kind == "time" and t.timezone:  # type: ignore[attr-defined]
        return ("TIME" if isinstance(t, sa.Time) else "TIMESTAMP") + " WITH TIME ZONE"
    try:
        text = _dialect_of(t).type_compiler_instance.process(t)
    except (CompileError, UnsupportedCompilationError):
        text = type(t).__name__.upper()
    return _clean(text)


@cache
def _clean(text: str) -> str:
    text = _CHARSET.sub("", text).replace(" WITHOUT TIME ZONE", "").strip()
    m = _DISPLAY_WIDTH.match(text)
    # MySQL's integer display widths mean nothing for storage; TINYINT(1) is its boolean.
    if m and not (m.group(1) == "TINYINT" and m.group(2) == "1"):
        text = m.group(1) + text[m.end() :]
    return text


#: Names read as SQLAlchemy's generic types, which each dialect writes its own way
#: (DATETIME is TIMESTAMP on PostgreSQL, BLOB is BYTEA, UUID is CHAR(32) on MySQL).
GENERIC = {
    "DATETIME": sa.DateTime,
    "DOUBLE": sa.Double,
    "BLOB": sa.LargeBinary,
    "UUID": sa.Uuid,
    "BOOLEAN": sa.Boolean,
    "CLOB": sa.Text,
}


def _lookup(name: str) -> type[TypeEngine[Any]] | None:
    upper = ALIASES.get(name.upper(), name.upper())
    if upper in GENERIC:
        return GENERIC[upper]  # type: ignore[return-value]
    generic = getattr(sa.types, upper.replace(" ", "_"), None)
    if isinstance(generic, type) and issubclass(generic, TypeEngine):
        return generic
    from sqlalchemy.dialects.mysql import base as mysql
    from sqlalchemy.dialects.postgresql import base as postgresql
    from sqlalchemy.dialects.sqlite import base as sqlite

    for names in (postgresql.ischema_names, mysql.ischema_names, sqlite.ischema_names):
        found = names.get(upper.lower()) or names.get(upper)
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


def _args(text: str | None) -> list[Any]:
    if not text:
        return []
    out: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        out.append(int(part) if part.isdigit() else part.strip("'\""))
    return out


def _split(text: str) -> tuple[str, list[Any], str]:
    """``NAME(args) rest`` -> (NAME, args, rest); a multi-word NAME gives up trailing words
    until SQLAlchemy knows it (``INTEGER UNSIGNED`` -> INTEGER + UNSIGNED)."""
    m = _TYPE.fullmatch(text)
    if not m:
        return text, [], ""
    words, args, rest = m.group("name").split(), _args(m.group("args")), m.group("rest").strip()
    for cut in range(len(words), 0, -1):
        name = " ".join(words[:cut])
        if _lookup(name) is not None or name.upper() in ("ENUM", "SET"):
            tail = " ".join(words[cut:])
            return name, args, " ".join(p for p in (tail, rest) if p)
    return " ".join(words), args, rest


def parse_type(text: str) -> TypeEngine[Any]:
    """The SQLAlchemy type for normalized type text; unknown types stay :class:`Verbatim`."""
    name, args, rest = _split(text)
    upper, rest = ALIASES.get(name.upper(), name.upper()), rest.upper()
    if upper in ("ENUM", "SET") and args:
        return sa.Enum(*args, native_enum=False, create_constraint=False)
    if upper.endswith(" WITH TIME ZONE") or rest == "WITH TIME ZONE":
        return (sa.TIMESTAMP if upper.startswith("TIMESTAMP") else sa.TIME)(timezone=True)
    cls = _lookup(name)
    if cls is None or rest not in ("", "UNSIGNED", "WITHOUT TIME ZONE"):
        return Verbatim(text)
    try:
        return cls(*args)
    except TypeError:
        return cls()


def fk_from(fkc: sa.ForeignKeyConstraint) -> ForeignKey:
    # str(): SQLAlchemy's names are quoted_name, a str subclass YAML cannot write
    targets = [str(e.target_fullname).split(".") for e in fkc.elements]
    first = targets[0]
    return ForeignKey(
        columns=tuple(str(e.parent.name) for e in fkc.elements),
        ref_table=first[-2],
        ref_columns=tuple(t[-1] for t in targets),
        name=_name(fkc),
        ref_schema=".".join(first[:-2]) or None,
        ondelete=fk_action(fkc.ondelete),
        onupdate=fk_action(fkc.onupdate),
    )


def fk_action(action: str | None) -> str | None:
    # NO ACTION and RESTRICT are what a database does when nothing is said.
    if not action or action.upper() in ("NO ACTION", "RESTRICT"):
        return None
    return action.upper()


def _name(obj: Any) -> str | None:
    return str(obj.name) if isinstance(obj.name, str) else None


def _expr_names(exprs: Any) -> tuple[str, ...]:
    return tuple(str(e.name) if isinstance(e, sa.Column) else str(e) for e in exprs)


def from_table(table: sa.Table) -> Table:
    uniques = [
        UniqueConstraint(_name(c), tuple(str(col.name) for col in c.columns))
        for c in table.constraints
        if isinstance(c, sa.UniqueConstraint)
    ]
    return Table(
        name=str(table.name),
        columns=tuple(
            Column(str(c.name), type_text(c.type), bool(c.nullable)) for c in table.columns
        ),
        primary_key=tuple(str(c.name) for c in table.primary_key.columns),
        foreign_keys=tuple(fk_from(c) for c in table.foreign_key_constraints),
        indexes=tuple(
            Index(_name(i), _expr_names(i.expressions), bool(i.unique)) for i in table.indexes
        ),
        unique_constraints=tuple(uniques),
    )


def from_metadata(metadata: sa.MetaData, *, name: str | None = None, source: str = "") -> Schema:
    """The schema model of every table in ``metadata``."""
    return Schema(tuple(from_table(t) for t in metadata.tables.values()), name=name, source=source)


def _compiles_on(t: TypeEngine[Any], dialect: Dialect | None) -> bool:
    if dialect is None:
        return True
    try:
        t.compile(dialect=dialect)
    except (CompileError, UnsupportedCompilationError):
        return False
    return True


def column_type(text: str, dialect: Dialect | None = None) -> TypeEngine[Any]:
    """The type for ``text``, as :class:`Verbatim` if ``dialect`` cannot write it."""
    t = parse_type(text)
    return t if _compiles_on(t, dialect) else Verbatim(text)


def to_metadata(schema: Schema, dialect: Dialect | None = None) -> sa.MetaData:
    """A MetaData with ``schema``'s tables; types ``dialect`` cannot write stay verbatim."""
    md = sa.MetaData(schema=schema.name)
    for t in schema.tables:
        items: list[Any] = [
            sa.Column(
                c.name, column_type(c.type, dialect), nullable=c.nullable, autoincrement=False
            )
            for c in t.columns
        ]
        if t.primary_key:
            items.append(sa.PrimaryKeyConstraint(*t.primary_key))
        for fk in t.foreign_keys:
            prefix = (
                f"{fk.ref_schema}." if fk.ref_schema else (f"{schema.name}." if schema.name else "")
            )
            items.append(
                sa.ForeignKeyConstraint(
                    list(fk.columns),
                    [f"{prefix}{fk.ref_table}.{c}" for c in fk.ref_columns],
                    name=fk.name,
                    ondelete=fk.ondelete,
                    onupdate=fk.onupdate,
                )
            )
        items += [sa.UniqueConstraint(*u.columns, name=u.name) for u in t.unique_constraints]
        names = {c.name for c in t.columns}
        items += [
            sa.Index(
                i.name or f"ix_{t.name}_{'_'.join(i.columns)}",
                *(c if c in names else sa.text(c) for c in i.columns),
                unique=i.unique,
            )
            for i in t.indexes
        ]
        sa.Table(t.name, md, *items)
    return md
