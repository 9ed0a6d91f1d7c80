"""Config files on a node: the page's content applied whole or merged, and read back."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import DirectiveError, LabbookError
from ..steps.model import FileFormat
from .matching import Match, locate_key, match_tests, unified
from .normalize import ELLIPSIS

DEFAULT_SECTION = "DEFAULT"


# -- entry points -----------------------------------------------------------------------
def apply_content(
    content: Sequence[str], fmt: FileFormat | str, merge: bool, existing: bytes | None
) -> bytes:
    """The bytes to write: the content itself (``...`` lines left out), or with ``merge``
    the ``existing`` file (None: no file) with only the shown keys set.

    Raises DirectiveError (``line`` = 0-based offset in content) for content that is not
    valid in ``fmt``, and LabbookError when the existing file cannot be merged into.
    """
    fmt = FileFormat(fmt)
    shown = _Shown.of(content)
    if not merge:
        _VALIDATE[fmt](shown)
        return (shown.text + "\n").encode() if shown.lines else b""
    if fmt is FileFormat.TEXT:
        raise DirectiveError(
            "a text file cannot be merged; add ':format: ini' (or yaml, "
            "json), or drop ':merge:' to write the whole file"
        )
    old = _decode(existing)
    return _MERGE[fmt](shown, old).encode("utf-8", "surrogateescape")


def check_content(
    content: Sequence[str], fmt: FileFormat | str, merge: bool, actual: bytes
) -> Match:
    """Does the file read back still say what the page says? Whole files line by line
    (``...`` lines match any lines); merged files key by key."""
    fmt = FileFormat(fmt)
    text = _decode(actual)
    if not merge or fmt is FileFormat.TEXT:
        exp = [x.rstrip() for x in content]
        act = [x.rstrip() for x in text.splitlines()]
        while act and not act[-1]:
            act.pop()
        while exp and not exp[-1]:
            exp.pop()
        tests = [None if x.strip() == ELLIPSIS else x.__eq__ for x in exp]
        return match_tests(exp, act, tests)
    return _CHECK[fmt](_Shown.of(content), text)


@dataclass(frozen=True)
class _Shown:
    """The page's lines without the author's ``...`` lines, and where each one was."""

    lines: tuple[str, ...]
    offsets: tuple[int, ...]

    @classmethod
    def of(cls, content: Sequence[str]) -> _Shown:
        kept = [(i, x) for i, x in enumerate(content) if x.strip() != ELLIPSIS]
        return cls(tuple(x for _, x in kept), tuple(i for i, _ in kept))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def offset(self, index: int) -> int:
        """The content offset of shown line ``index`` (clamped: parsers may point past)."""
        if not self.offsets:
            return 0
        return self.offsets[max(0, min(index, len(self.offsets) - 1))]


def _decode(data: bytes | None) -> str:
    # surrogateescape: bytes that are not UTF-8 survive a merge unchanged
    return (data or b"").decode("utf-8", "surrogateescape")


# -- INI (oslo.config, tox, systemd-like): edited line by line to keep comments ------------
_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*(?:[#;].*)?$")
_KEYVAL = re.compile(r"^(?P<key>[^=:\s\[#;][^=:]*?)\s*[=:]\s*(?P<value>.*)$")
_BARE = re.compile(r"^(?P<key>[^=:\s\[#;]\S*)\s*$")


@dataclass(frozen=True)
class IniItem:
    """One piece of an INI file: a section header, a ``key = value`` (a bare key has value
    None; continuation lines are part of it), a comment, a blank or an unknown line."""

    kind: str  # "header" | "entry" | "comment" | "blank" | "other"
    section: str
    start: int  # first line (0-based)
    end: int  # one past the last line
    key: str = ""
    value: str | None = None


def scan_ini(
    lines: Sequence[str], strict: bool = False, offsets: Sequence[int] | None = None
) -> list[IniItem]:
    """Split INI lines into items; keys before any section are in [DEFAULT]. With
    ``strict``, a line that is none of these raises DirectiveError at its offset."""
    items: list[IniItem] = []
    section = DEFAULT_SECTION
    for n, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            items.append(IniItem("blank", section, n, n + 1))
        elif stripped.startswith(("#", ";")):
            items.append(IniItem("comment", section, n, n + 1))
        elif line[0] in " \t" and items and items[-1].kind == "entry":
            last = items[-1]  # an indented line continues the value above it
            items[-1] = replace(last, end=n + 1, value=f"{last.value or ''}\n{stripped}")
        elif (m := _SECTION.match(line)) is not None:
            section = m["name"].strip()
            items.append(IniItem("header", section, n, n + 1))
        elif (m := _KEYVAL.match(line) or _BARE.match(line)) is not None:
            value = m.groupdict().get("value")
            items.append(
                IniItem(
                    "entry",
                    section,
                    n,
                    n + 1,
                    m["key"].strip(),
                    value.strip() if value is not None else None,
                )
            )
        elif strict:
            where = offsets[n] if offsets else n
            raise DirectiveError(
                f"not an INI line: {stripped[:40]!r}; write 'key = value', "
                "a bare key, '[section]' or a '# comment'",
                line=where,
            )
        else:
            items.append(IniItem("other", section, n, n + 1))
    return items


def _ini_groups(items: Sequence[IniItem]) -> dict[tuple[str, str], list[IniItem]]:
    """Entries by (section, key), in order; a repeated key is a multi-valued option."""
    groups: dict[tuple[str, str], list[IniItem]] = {}
    for it in items:
        if it.kind == "entry":
            groups.setdefault((it.section, it.key), []).append(it)
    return groups


def _validate_ini(shown: _Shown) -> None:
    scan_ini(shown.lines, strict=True, offsets=shown.offsets)


def _merge_ini(shown: _Shown, old: str) -> str:
    page = scan_ini(shown.lines, strict=True, offsets=shown.offsets)
    want = _ini_groups(page)
    lines = old.splitlines()
    items = scan_ini(lines)
    have = _ini_groups(items)
    # Existing occurrences are replaced in place; extra new values follow the last one;
    # extra old values of a multi-valued option go.
    replaced: dict[int, list[str]] = {}
    for group_key, new in want.items():
        olds = have.get(group_key, [])
        texts = [list(shown.lines[e.start : e.end]) for e in new]
        for k, it in enumerate(olds):
            replaced[it.start] = texts[k] if k < len(texts) else []
        if olds and len(texts) > len(olds):
            replaced[olds[-1].start] += [x for t in texts[len(olds) :] for x in t]
    out: list[str] = []
    ends = {it.start: it.end for it in items}
    n = 0
    while n < len(lines):
        if n in replaced:
            out += replaced[n]
            n = ends[n]
        else:
            out.append(lines[n])
            n += 1
    missing = {k: v for k, v in want.items() if k not in have}
    out = _insert_missing(
        out,
        missing,
        shown,
        explicit_default=any(it.kind == "header" and it.section == DEFAULT_SECTION for it in page),
    )
    return "\n".join(out) + "\n" if out else ""


def _insert_missing(
    lines: list[str],
    missing: dict[tuple[str, str], list[IniItem]],
    shown: _Shown,
    explicit_default: bool,
) -> list[str]:
    """Keys the file does not have go after the last entry of their section (or its
    header); sections the file does not have go at the end ([DEFAULT] at the top)."""
    by_section: dict[str, list[str]] = {}
    for (section, _), entries in missing.items():
        for e in entries:
            by_section.setdefault(section, []).extend(shown.lines[e.start : e.end])
    for section, new in by_section.items():
        items = scan_ini(lines)
        spot = _insertion_point(items, section)
        if spot is not None:
            lines[spot:spot] = new
        elif section == DEFAULT_SECTION and (explicit_default or lines):
            has_more = any(x.strip() for x in lines)
            lines[0:0] = [f"[{DEFAULT_SECTION}]", *new] + ([""] if has_more else [])
        elif section == DEFAULT_SECTION:
            lines[0:0] = new
        else:
            sep = [""] if lines and lines[-1].strip() else []
            lines += [*sep, f"[{section}]", *new]
    return lines


def _insertion_point(items: Sequence[IniItem], section: str) -> int | None:
    """After the last entry of ``section`` (or its header); None if the file lacks it."""
    spot = None
    for it in items:
        if it.section == section and it.kind in ("header", "entry"):
            spot = it.end
    return spot


def _check_ini(shown: _Shown, text: str) -> Match:
    page = scan_ini(shown.lines, strict=True, offsets=shown.offsets)
    want = _ini_groups(page)
    file_lines = text.splitlines()
    have = _ini_groups(scan_ini(file_lines))
    exp: list[str] = []
    act: list[str] = []
    bad: int | None = None
    sections = {s for s, _ in have}
    for section in dict.fromkeys(s for s, _ in want):
        exp.append(f"[{section}]")
        if section in sections:
            act.append(f"[{section}]")
        for (sec, _key), entries in want.items():
            if sec != section:
                continue
            page_text = [x for e in entries for x in shown.lines[e.start : e.end]]
            olds = have.get((sec, _key), [])
            same = [e.value for e in entries] == [o.value for o in olds]
            exp += page_text
            act += page_text if same else [x for o in olds for x in file_lines[o.start : o.end]]
            if not same and bad is None:
                bad = shown.offset(entries[0].start)
    if bad is None:
        return Match(True, "", None)
    return Match(False, unified(exp, act), bad)


# -- YAML: ruamel.yaml round trip keeps the file's comments, order and quoting ------------
def _yaml_rt() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line of the existing file
    return yaml


def _yaml_safe() -> Any:
    """Plain data for comparing; tags it does not know (Ansible's ``!vault``) are kept
    as text rather than refused, as the round trip that writes the file keeps them."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    class TolerantConstructor(SafeConstructor):  # a subclass: the registry is per class
        pass

    def unknown(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return f"!{suffix} {node.value}"

    TolerantConstructor.add_multi_constructor("!", unknown)
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = TolerantConstructor
    return yaml


def _load_yaml(text: str, loader: Any, shown: _Shown | None) -> Any:
    from ruamel.yaml import YAMLError

    if shown is not None:
        text += "\n"  # as written to the file: a block scalar at the end keeps its newline
    try:
        docs = list(loader.load_all(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        if shown is None:
            raise LabbookError(
                f"the existing file is not valid YAML ({_first_line(exc)}); "
                "a merge needs a mapping to merge into"
            ) from None
        raise DirectiveError(
            f"not valid YAML: {_first_line(exc)}", line=shown.offset(mark.line if mark else 0)
        ) from None
    return docs[0] if len(docs) == 1 else docs if docs else None


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:120]


def _validate_yaml(shown: _Shown) -> None:
    _load_yaml(shown.text, _yaml_safe(), shown)


def _merge_yaml(shown: _Shown, old: str) -> str:
    from ruamel.yaml.util import load_yaml_guess_indent

    yaml = _yaml_rt()
    page = _load_yaml(shown.text, yaml, shown)
    if not old.strip():
        data = page
    else:
        _load_yaml(old, _yaml_safe(), None)  # a clear error for a broken file
        # only the indentation: its yaml= (to load with ours) is ruamel.yaml 0.18.11's
        _, indent, dash = load_yaml_guess_indent(old)
        data = yaml.load(old)
        mapping = _yaml_mapping_indent(old)
        yaml.explicit_start = _starts_with_marker(old)
        yaml.indent(
            mapping=mapping, sequence=indent if dash is not None else mapping, offset=dash or 0
        )
        data = _deep_merge(data, page)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _starts_with_marker(text: str) -> bool:
    """Does the document open with ``---`` (which the round trip would drop)?"""
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.rstrip() == "---" or line.startswith("--- ")
    return False


def _yaml_mapping_indent(text: str) -> int:
    """How far a nested mapping is indented under its key (ruamel guesses it from
    sequences when there are any, which is another thing)."""
    key_only = None
    for line in text.splitlines():
        body = line.strip()
        if not body or body.startswith("#"):
            continue
        width = len(line) - len(line.lstrip(" "))
        if key_only is not None and width > key_only and not body.startswith("- "):
            return width - key_only
        key_only = width if body.endswith(":") and not body.startswith("- ") else None
    return 2


def _deep_merge(base: Any, update: Any) -> Any:
    """Mappings merged key by key, recursively; anything else replaced."""
    if not (isinstance(base, dict) and isinstance(update, dict)):
        return update
    for k, v in update.items():
        base[k] = _deep_merge(base[k], v) if k in base else v
    return base


def _check_tree(
    shown: _Shown,
    text: str,
    load: Callable[[str, _Shown | None], Any],
    dump: Callable[[Any], list[str]],
) -> Match:
    page = load(shown.text, shown)
    if page is None:
        return Match(True, "", None)
    try:
        actual = load(text, None)
    except LabbookError as exc:
        return Match(False, unified(list(shown.lines), text.splitlines()) + exc.message + "\n", 0)
    path: list[str | int] = []
    view = _view(page, actual, (), path)
    if not path:
        return Match(True, "", None)
    diff = unified(dump(page), dump(view))
    return Match(False, diff, shown.offset(locate_key(shown.lines, path)))


_MISSING: Any = object()


def _view(page: Any, actual: Any, here: tuple[str | int, ...], bad: list[str | int]) -> Any:
    """What the file has where the page shows something (missing keys left out); the
    path to the first difference goes in ``bad``."""
    if isinstance(page, dict) and isinstance(actual, dict):
        out = {}
        for k, v in page.items():
            if k in actual:
                out[k] = _view(v, actual[k], (*here, k), bad)
            elif not bad:
                bad.extend((*here, k))
        return out
    if page != actual and not bad:
        bad.extend(here or ("",))
    return actual


def _yaml_lines(value: Any) -> list[str]:
    yaml = _yaml_safe()
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(value, out)
    return out.getvalue().splitlines()


def _check_yaml(shown: _Shown, text: str) -> Match:
    return _check_tree(shown, text, lambda t, s: _load_yaml(t, _yaml_safe(), s), _yaml_lines)


# -- JSON ------------------------------------------------------------------------------
def _load_json(text: str, shown: _Shown | None) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        if shown is None:
            raise LabbookError(
                f"the existing file is not valid JSON ({exc}); a merge needs "
                "an object to merge into"
            ) from None
        raise DirectiveError(
            f"not valid JSON: {exc}", line=shown.offset(getattr(exc, "lineno", 1) - 1)
        ) from None


def _validate_json(shown: _Shown) -> None:
    _load_json(shown.text, shown)


def _merge_json(shown: _Shown, old: str) -> str:
    page = _load_json(shown.text, shown)
    data = _deep_merge(_load_json(old, None), page) if old.strip() else page
    indent = _json_indent(old) if old.strip() else _json_indent(shown.text)
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


def _json_indent(text: str) -> int | None:
    """The file's indentation step, or None for a one-line file."""
    widths = [len(x) - len(x.lstrip(" ")) for x in text.splitlines() if x.startswith(" ")]
    if "\n" not in text.strip():
        return None
    return min(widths) if widths else 2


def _check_json(shown: _Shown, text: str) -> Match:
    return _check_tree(
        shown, text, _load_json, lambda v: json.dumps(v, indent=2, ensure_ascii=False).splitlines()
    )


_VALIDATE: dict[FileFormat, Callable[[_Shown], None]] = {
    FileFormat.TEXT: lambda shown: None,
    FileFormat.INI: _validate_ini,
    FileFormat.YAML: _validate_yaml,
    FileFormat.JSON: _validate_json,
}
_MERGE: dict[FileFormat, Callable[[_Shown, str], str]] = {
    FileFormat.INI: _merge_ini,
    FileFormat.YAML: _merge_yaml,
    FileFormat.JSON: _merge_json,
}
_CHECK: dict[FileFormat, Callable[[_Shown, str], Match]] = {
    FileFormat.INI: _check_ini,
    FileFormat.YAML: _check_yaml,
    FileFormat.JSON: _check_json,
}
