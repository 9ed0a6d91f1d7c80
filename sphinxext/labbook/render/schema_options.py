"""Render options from text, as the directive and the command line both receive them."""

from __future__ import annotations

import os

import yaml

from ..errors import SchemaError
from .schema import RenderOptions, groups_from_mapping, parse_groups, parse_list

Groups = tuple[tuple[str, tuple[str, ...]], ...]


def _groups(spec: str | None, base_dir: str) -> tuple[Groups, bool, str | None]:
    """The clusters ``spec`` asks for (explicit groups, or by prefix), and the file it read."""
    if not spec:
        return (), False, None
    if spec.strip().endswith((".yaml", ".yml")):
        path = os.path.join(base_dir, spec.strip())
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except OSError as exc:
            raise SchemaError(f"cannot read groups from {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise SchemaError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise SchemaError(f"{path}: write a mapping of cluster name to table globs")
        return groups_from_mapping(data), False, path
    groups = parse_groups(spec)
    return (groups or (), groups is None, None)


def render_options(
    *,
    include: str | list[str] | None = None,
    exclude: str | list[str] | None = None,
    columns: str = "all",
    rankdir: str = "LR",
    group: str | None = None,
    around: str | None = None,
    depth: int = 1,
    title: str | None = None,
    indexes: bool = False,
    base_dir: str = ".",
) -> tuple[RenderOptions, str | None]:
    """:class:`RenderOptions` from option text, and the groups file read (if any)."""

    def globs(value: str | list[str] | None) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else (value or [])
        return tuple(g for item in items for g in parse_list(item))

    groups, by_prefix, path = _groups(group, base_dir)
    opts = RenderOptions(
        include=globs(include),
        exclude=globs(exclude),
        columns=columns,
        rankdir=rankdir,
        around=parse_list(around),
        depth=depth,
        title=title or None,
        indexes=indexes,
        groups=groups,
        group_by_prefix=by_prefix,
    )
    return opts, path
