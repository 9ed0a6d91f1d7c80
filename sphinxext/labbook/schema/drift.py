"""The drift check end to end: read both sides, compare, apply the allow-list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .allow import AllowEntry, apply_allow
from .diff import Difference, compare_live, compare_schemas
from .mask import expand, mask_url
from .model import Schema
from .source import load_schema, parse_source
from .url import connect, reflect_connection


@dataclass(frozen=True)
class DriftReport:
    """What differs between the documented schema and the live one, after the allow-list."""

    documented: str
    live: str
    differences: tuple[Difference, ...]
    allowed: tuple[tuple[Difference, AllowEntry], ...] = ()
    stale: tuple[AllowEntry, ...] = ()

    @property
    def drift(self) -> bool:
        """True if anything differs, or an allow-list entry no longer matches anything."""
        return bool(self.differences or self.stale)

    def lines(self) -> list[str]:
        return [str(d) for d in self.differences] + [e.stale_message() for e in self.stale]

    def as_dict(self) -> dict[str, Any]:
        return {
            "documented": self.documented,
            "live": self.live,
            "drift": self.drift,
            "differences": [d.as_dict() for d in self.differences],
            "allowed": [
                {**d.as_dict(), "reason": e.reason, "allowed_by": f"{e.file}:{e.line}"}
                for d, e in self.allowed
            ],
            "stale_allow_entries": [
                {
                    "file": e.file,
                    "line": e.line,
                    "entry": e.describe(),
                    "message": e.stale_message(),
                }
                for e in self.stale
            ],
        }


def check_drift(
    documented: str | Schema,
    live: str,
    base_dir: str = ".",
    *,
    name: str | None = None,
    allow: Iterable[AllowEntry] = (),
) -> DriftReport:
    """Compare ``documented`` (a source or a loaded schema) with ``live`` (a source).

    A live database is compared with alembic's autogenerate machinery over one connection;
    anything else (a snapshot, models, DDL) is compared model against model.
    """
    doc = documented if isinstance(documented, Schema) else load_schema(documented, base_dir)
    src = parse_source(live)
    if src.kind == "url":
        schema_name = name or src.detail
        with connect(src.target, base_dir) as conn:
            label = mask_url(expand(src.target))
            live_schema = reflect_connection(conn, schema_name, label)
            diffs = compare_live(doc, conn, live_schema, schema_name)
    else:
        live_schema = load_schema(live, base_dir, name=name)
        diffs = compare_schemas(doc, live_schema)
    applied = apply_allow(diffs, allow)
    return DriftReport(
        doc.source or str(documented),
        live_schema.source or live,
        applied.remaining,
        applied.allowed,
        applied.stale,
    )
