"""The allow-list: known, accepted differences, each with a reason; stale entries are drift."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import SchemaError
from .diff import Difference, Kind
from .snapshot import read_marked

FIELDS = ("table", "column", "subject", "kind", "reason")
EXAMPLE = "'- {table: shadow_*, reason: written by nova-manage db archive}'"


@dataclass(frozen=True)
class AllowEntry:
    """Differences on tables matching ``table`` (a glob), narrowed by subject and kind."""

    table: str
    reason: str
    subject: str | None = None
    kind: Kind | None = None
    file: str | None = None
    line: int | None = None

    def matches(self, d: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(d.table, self.table)
            and (self.subject is None or fnmatch.fnmatchcase(d.subject, self.subject))
            and (self.kind is None or self.kind == d.kind)
        )

    def describe(self) -> str:
        parts = [f"table {self.table}"]
        if self.subject:
            parts.append(self.subject)
        if self.kind:
            parts.append(f"kind {self.kind}")
        return ", ".join(parts)

    def stale_message(self) -> str:
        loc = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        return (
            f"{loc}: allow-list entry ({self.describe()}) matches no difference any more; remove it"
        )


def _entry(item: object, path: str, line: int) -> AllowEntry:
    def fail(message: str) -> SchemaError:
        return SchemaError(message, file=path, line=line)

    if not isinstance(item, dict):
        raise fail(f"an allow-list entry is a mapping; write it like {EXAMPLE}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} in an allow-list entry; use {', '.join(FIELDS)}")
    if not isinstance(item.get("table"), str) or not item["table"]:
        raise fail("an allow-list entry needs 'table' (a name or glob like shadow_*)")
    reason = item.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise fail(
            f"allow-list entry for table {item['table']} has no reason; add "
            "reason: why this difference is accepted"
        )
    kind = item.get("kind")
    if kind is not None and kind not in {k.value for k in Kind}:
        raise fail(f"unknown kind {kind!r}; write one of {', '.join(k.value for k in Kind)}")
    subject = item.get("subject")
    if item.get("column") is not None:
        subject = f"column {item['column']}"
    return AllowEntry(
        item["table"],
        reason.strip(),
        str(subject) if subject else None,
        Kind(kind) if kind else None,
        path,
        line,
    )


def load_allow(path: str) -> tuple[AllowEntry, ...]:
    """The entries of an allow-list YAML file (a list of mappings)."""
    marked = read_marked(path, "allow-list")
    data = marked.data if marked.data != {} else []
    if not isinstance(data, list):
        raise SchemaError(
            f"an allow-list is a YAML list of entries, like {EXAMPLE}", file=path, line=1
        )
    return tuple(_entry(item, path, marked.mark((i,)).line) for i, item in enumerate(data))


@dataclass(frozen=True)
class Applied:
    remaining: tuple[Difference, ...]
    allowed: tuple[tuple[Difference, AllowEntry], ...]
    stale: tuple[AllowEntry, ...]


def apply_allow(diffs: Iterable[Difference], entries: Iterable[AllowEntry]) -> Applied:
    """Split ``diffs`` into those still drift and those an entry accepts (the first that
    matches); entries that accept nothing are returned as stale."""
    entries = tuple(entries)
    used: set[AllowEntry] = set()
    remaining, allowed = [], []
    for d in diffs:
        entry = next((e for e in entries if e.matches(d)), None)
        if entry is None:
            remaining.append(d)
        else:
            allowed.append((d, entry))
            used.add(entry)
    return Applied(tuple(remaining), tuple(allowed), tuple(e for e in entries if e not in used))
