"""Load a schema from SQLAlchemy models: ``package.module:Base`` or ``path/to/file.py:Base``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from types import ModuleType
from typing import Any

import sqlalchemy as sa

from ..errors import SchemaError
from .model import Schema
from .sqla import from_metadata


def _error_line(exc: BaseException, path: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename and os.path.samefile(exc.filename, path):
        return exc.lineno
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename and os.path.abspath(f.filename) == os.path.abspath(path)
    ]
    return frames[-1].lineno if frames else None


def import_file(path: str) -> ModuleType:
    """Import the one file ``path`` (nothing else on the way) as a throwaway module."""
    if not os.path.isfile(path):
        raise SchemaError(
            f"no such file {path}; write a path relative to the document "
            "or to the configuration directory"
        )
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    name = f"labbook_schema_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SchemaError(f"{path} cannot be imported as Python; name a .py file", file=path)
    module = importlib.util.module_from_spec(spec)
    # Declarative classes resolve their annotations through sys.modules while the file runs.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise SchemaError(
            f"cannot import {os.path.basename(path)}: {type(exc).__name__}: {exc}",
            file=path,
            line=_error_line(exc, path),
        ) from None
    finally:
        sys.modules.pop(name, None)
    return module


def import_dotted(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise SchemaError(
                f"no module named {exc.name!r}; put its directory on sys.path "
                "(PYTHONPATH, or sys.path in conf.py) or name a file "
                "like schemas/models.py:Base"
            ) from None
        raise SchemaError(f"cannot import {name}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise SchemaError(f"cannot import {name}: {type(exc).__name__}: {exc}") from None


def _metadata(obj: Any) -> sa.MetaData | None:
    if isinstance(obj, sa.MetaData):
        return obj
    md = getattr(obj, "metadata", None)
    return md if isinstance(md, sa.MetaData) else None


def _find_metadata(module: ModuleType, label: str) -> sa.MetaData:
    found: dict[int, tuple[str, sa.MetaData]] = {}
    for attr in sorted(vars(module)):
        md = _metadata(getattr(module, attr))
        if md is not None:  # a Base and its mapped classes share one MetaData
            found.setdefault(id(md), (attr, md))
    if len(found) == 1:
        return next(iter(found.values()))[1]
    if not found:
        raise SchemaError(
            f"{label} defines no SQLAlchemy MetaData or declarative Base; "
            f"write {label}:Base naming the one to draw"
        )
    names = ", ".join(sorted(a for a, _ in found.values()))
    raise SchemaError(f"{label} has several MetaData ({names}); write {label}:NAME")


def _resolve(module: ModuleType, attr: str, label: str) -> sa.MetaData:
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SchemaError(
                f"{label} has no attribute {part!r}; write {label}:Base (or "
                f":metadata) naming its declarative Base or MetaData"
            )
        obj = getattr(obj, part)
    md = _metadata(obj)
    if md is None:
        raise SchemaError(
            f"{label}:{attr} is a {type(obj).__name__}, not a SQLAlchemy "
            "declarative Base or MetaData"
        )
    return md


def load_models(target: str, attr: str | None, *, is_file: bool, source: str = "") -> Schema:
    """The schema of the MetaData ``attr`` names in the module or file ``target``."""
    if is_file:
        module, label = import_file(target), os.path.basename(target)
        files: tuple[str, ...] = (os.path.abspath(target),)
    else:
        module, label = import_dotted(target), target
        mfile = getattr(module, "__file__", None)
        files = (os.path.abspath(mfile),) if mfile else ()
    md = _resolve(module, attr, label) if attr else _find_metadata(module, label)
    schema = from_metadata(md, name=md.schema, source=source or target)
    return Schema(schema.tables, name=schema.name, source=schema.source, files=files)
