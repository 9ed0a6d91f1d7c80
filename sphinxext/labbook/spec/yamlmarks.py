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


#: At most this many values may be added by YAML aliases (``*name``) repeating others:
#: enough to share a block among hundreds of nodes, too few for a "billion laughs".
MAX_ALIAS_VALUES = 100_000
#: Deepest nesting of lists and mappings in a YAML file.
MAX_DEPTH = 100


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_aliases(root: yaml.Node, filename: str) -> None:
    """Refuse a value that contains itself through an alias, aliases that would repeat
    more than :data:`MAX_ALIAS_VALUES` values, and nesting deeper than :data:`MAX_DEPTH`.
    One walk over the composed nodes, without recursion and without expanding anything."""

    def fail(node: yaml.Node, message: str) -> SpecError:
        m = _mark(node)
        return SpecError(message, file=filename, line=m.line, column=m.column)

    size: dict[int, int] = {}  # id(node) -> its values with every alias expanded
    counted: set[int] = set()  # nodes already counted once inside a parent
    open_: set[int] = set()  # nodes whose children are being walked
    repeated = 0
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 0)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            total = 1
            for child in _children(node):
                total += size[id(child)]
                if id(child) in counted:
                    repeated += size[id(child)]
                counted.add(id(child))
            size[key] = total
            if repeated > MAX_ALIAS_VALUES:
                raise fail(
                    node,
                    f"YAML aliases here repeat more than {MAX_ALIAS_VALUES} values; "
                    "write the values out, or use fewer nested aliases",
                )
            continue
        if key in size:
            continue
        if depth > MAX_DEPTH:
            raise fail(node, f"YAML nested more than {MAX_DEPTH} levels deep; flatten it")
        open_.add(key)
        stack.append((node, True, depth))
        for child in _children(node):
            if id(child) in open_:
                raise fail(
                    child,
                    "a recursive YAML alias: this value contains itself through an alias "
                    "(*name) to its own anchor (&name); write the values out",
                )
            if id(child) not in size:
                stack.append((child, False, depth + 1))


def _line_of(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` of ``text``."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _codepoint(c: str | int) -> str:
    return f"U+{ord(c) if isinstance(c, str) else c:04X}"


def read_text(path: str) -> str:
    """The text of the YAML file ``path``; bytes that are not UTF-8 are one error at their
    line (OSError is left to the caller)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); a YAML file is text: "
            "is this the right file?",
            file=path,
            line=data[: exc.start].count(b"\n") + 1,
            column=exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1,
        ) from None


def compose(text: str, filename: str) -> yaml.Node | None:
    """The node graph of ``text``, checked by :func:`check_aliases`; every YAML problem
    raises :class:`SpecError` at its line."""
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
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ESC ...)
        line, column = _line_of(text, exc.position)
        raise SpecError(
            f"YAML cannot hold the character {_codepoint(exc.character)}; remove it",
            file=filename,
            line=line,
            column=column,
        ) from None
    except RecursionError:
        raise SpecError(
            f"YAML nested more than {MAX_DEPTH} levels deep; flatten it", file=filename, line=1
        ) from None
    if node is not None:
        check_aliases(node, filename)
    return node


def load(text: str, filename: str) -> tuple[Marked, list[SpecError]]:
    """Parse ``text``; YAML syntax errors, recursive aliases and alias bombs raise,
    structural errors are returned."""
    node = compose(text, filename)
    builder = _Builder(filename)
    if node is None:
        return Marked({}, {(): Mark(1, 1)}, {}), []
    data = builder.build(node, ())
    return Marked(data, builder.values, builder.keys), builder.errors
