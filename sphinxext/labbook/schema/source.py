"""One entry point: ``load_schema(source, base_dir)`` picks the loader a source string names."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import SchemaError
from .ddl import DIALECTS, load_ddl
from .mask import expand, mask_url
from .model import Schema
from .orm import load_models
from .snapshot import SUFFIXES, load_snapshot
from .url import is_url, load_url

FORMS = (
    "package.module:Base, path/models.py:Base, path/schema.sql[:dialect], "
    "snapshot.json or .yaml, or a database URL"
)
_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class SchemaSource:
    """A parsed source string: ``kind`` is url, snapshot, ddl, file or module."""

    kind: str
    target: str
    detail: str | None = None  # attribute, dialect or database schema name

    def path(self, base_dir: str) -> str:
        return (
            self.target
            if os.path.isabs(self.target)
            else os.path.normpath(os.path.join(base_dir, self.target))
        )


def parse_source(source: str) -> SchemaSource:
    s = source.strip()
    if not s:
        raise SchemaError(f"no schema source given; write one of {FORMS}")
    if s.startswith("${") and not is_url(s):
        s = expand(s)  # the whole URL from the environment: ${NOVA_API_DB}
    if is_url(s):
        url, _, name = s.partition("#")
        return SchemaSource("url", url, name or None)
    if s.lower().endswith(SUFFIXES):
        return SchemaSource("snapshot", s)
    head, sep, tail = s.rpartition(":")
    if s.lower().endswith(".sql") or (sep and head.lower().endswith(".sql")):
        return (
            SchemaSource("ddl", head, tail)
            if sep and head.lower().endswith(".sql")
            else SchemaSource("ddl", s)
        )
    path, attr = (head, tail) if sep else (s, None)
    if path.endswith(".py") or "/" in path or os.sep in path:
        return SchemaSource("file", path, attr or None)
    if _DOTTED.match(path) and (attr is None or _DOTTED.match(attr)):
        return SchemaSource("module", path, attr or None)
    raise SchemaError(f"{mask_url(s)!r} is not a schema source; write one of {FORMS}")


_cache: dict[tuple[object, ...], Schema] = {}


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def load_schema(source: str, base_dir: str = ".", *, name: str | None = None) -> Schema:
    """The schema ``source`` names; relative paths are relative to ``base_dir``.

    File sources are cached by path and modification time, so a document that draws the
    same models three times imports them once. Live databases are read every time.
    """
    src = parse_source(source)
    if src.kind == "url":
        return load_url(src.target, base_dir, name or src.detail)
    if src.kind == "module":
        key: tuple[object, ...] = (src, None)
    else:
        path = src.path(base_dir)
        if not os.path.exists(path):
            raise SchemaError(f"no such file {path}; paths are relative to {base_dir}")
        key = (src, path, _stamp(path))
    if key not in _cache:
        _cache[key] = _load(src, source, base_dir)
    return _cache[key]


def _load(src: SchemaSource, source: str, base_dir: str) -> Schema:
    if src.kind == "snapshot":
        return load_snapshot(src.path(base_dir), source)
    if src.kind == "ddl":
        if src.detail and src.detail.lower() not in DIALECTS:
            raise SchemaError(
                f"unknown SQL dialect {src.detail!r} in {source!r}; write one of "
                f"{', '.join(sorted(DIALECTS))}"
            )
        return load_ddl(src.path(base_dir), src.detail, source)
    return load_models(
        src.path(base_dir) if src.kind == "file" else src.target,
        src.detail,
        is_file=src.kind == "file",
        source=source,
    )
