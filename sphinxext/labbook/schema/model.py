"""The schema model: tables, columns, keys and indexes as frozen, sorted dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property

from ..location import Location


@dataclass(frozen=True)
class Column:
    """One column; ``type`` is SQL type text normalized by the loaders (``VARCHAR(255)``)."""

    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of the owning table reference ``ref_columns`` of ``ref_table``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    name: str | None = None
    ref_schema: str | None = None
    ondelete: str | None = None  # CASCADE, SET NULL, ... (upper case)
    onupdate: str | None = None

    def sort_key(self) -> tuple[object, ...]:
        return (self.columns, self.ref_table, self.ref_columns, self.name or "")

    @property
    def actions(self) -> str:
        """``ON DELETE CASCADE ON UPDATE ...``, or empty."""
        return " ".join(
            f"ON {event} {action}"
            for event, action in (("DELETE", self.ondelete), ("UPDATE", self.onupdate))
            if action
        )


@dataclass(frozen=True)
class Index:
    name: str | None
    columns: tuple[str, ...]
    unique: bool = False

    def sort_key(self) -> tuple[object, ...]:
        return (self.name or "", self.columns, self.unique)


@dataclass(frozen=True)
class UniqueConstraint:
    name: str | None
    columns: tuple[str, ...]

    def sort_key(self) -> tuple[object, ...]:
        return (self.name or "", self.columns)


@dataclass(frozen=True)
class Table:
    """A table; columns keep their declared order, everything else is sorted."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    unique_constraints: tuple[UniqueConstraint, ...] = ()
    file: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Sorting here makes every loader produce the same value for the same schema.
        object.__setattr__(
            self, "foreign_keys", tuple(sorted(set(self.foreign_keys), key=ForeignKey.sort_key))
        )
        object.__setattr__(self, "indexes", tuple(sorted(set(self.indexes), key=Index.sort_key)))
        object.__setattr__(
            self,
            "unique_constraints",
            tuple(sorted(set(self.unique_constraints), key=UniqueConstraint.sort_key)),
        )

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @cached_property
    def fk_columns(self) -> frozenset[str]:
        return frozenset(c for fk in self.foreign_keys for c in fk.columns)


@dataclass(frozen=True)
class Note:
    """Something a loader read but did not understand (reported, never dropped silently)."""

    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        return f"{Location(self.file, self.line)}: {self.message}" if self.file else self.message


@dataclass(frozen=True)
class Schema:
    """Tables sorted by name; ``name`` is the database schema (namespace) if any."""

    tables: tuple[Table, ...]
    name: str | None = None
    source: str = field(default="", compare=False)
    notes: tuple[Note, ...] = field(default=(), compare=False)
    files: tuple[str, ...] = field(default=(), compare=False)  # files read to build it

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", tuple(sorted(self.tables, key=lambda t: t.name)))

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def only(self, names: Iterable[str]) -> Schema:
        """The same schema restricted to ``names`` (foreign keys out of it are kept)."""
        keep = set(names)
        return replace(self, tables=tuple(t for t in self.tables if t.name in keep))
