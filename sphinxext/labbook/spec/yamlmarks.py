"""YAML loading that remembers where every key and value came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import SpecError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column in a file."""

    line: int
    column: int


@dataclass
class Marked:
    """Plain Python data plus the position of each value and each mapping key."""

    data: Any
    values: dict[Path, Mark]
    keys: dict[Path, Mark]

    def mark(self, path: Path) -> Mark:
        """The position of ``path`` or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), Mark(1, 1))

    def key_mark(self, path: Path) -> Mark:
        """The position of the key that ends ``path`` (falls back to its value)."""
        return self.keys.get(tuple(path)) or self.mark(path)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.values: dict[Path, Mark] = {}
        self.keys: dict[Path, Mark] = {}
        self.errors: list[SpecError] = []
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                if knode.tag == "tag:yaml.org,2002:merge":
                    self.errors.append(
                        self._err(
                            knode, "YAML merge keys (<<) are not supported; write the keys out"
                        )
                    )
                    continue
                key = self.build_scalar(knode)
                if isinstance(key, (list, dict)):
                    self.errors.append(self._err(knode, "a key must be a plain name"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    first = self.keys[(*path, key)]
                    self.errors.append(
                        self._err(
                            knode,
                            f"duplicate key '{key}' (first defined at line {first.line}); "
                            "give each a unique name",
                        )
                    )
                    continue
                self.keys[(*path, key)] = _mark(knode)
                out[key] = self.build(vnode, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, (*path, i)) for i, v in enumerate(node.value)]
        return self.build_scalar(node)

    def build_scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self.build(node, ())
        return self._scalars.construct_object(node, deep=True)

    def _err(self, node: yaml.Node, message: str) -> SpecError:
        m = _mark(node)
        return SpecError(message, file=self.filename, line=m.line, column=m.column)


def load(text: str, filename: str) -> tuple[Marked, list[SpecError]]:
    """Parse ``text``; YAML syntax errors raise, structural ones are returned."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            f"YAML syntax error: {problem}",
            file=filename,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - reader errors (bad bytes)
        raise SpecError(f"YAML error: {exc}", file=filename, line=1, column=1) from None
    builder = _Builder(filename)
    if node is None:
        return Marked({}, {(): Mark(1, 1)}, {}), []
    data = builder.build(node, ())
    return Marked(data, builder.values, builder.keys), builder.errors
