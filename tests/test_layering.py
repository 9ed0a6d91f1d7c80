"""Imports run down the layers: no cycles, no upward imports, and the core never imports
Sphinx or docutils (only the two front ends do)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "sphinxext" / "labbook"
ROOT = "sphinxext.labbook"

#: The boxes of the flow, lowest first: a module may import its own box and the boxes
#: below it, never one above. A box is a folder (or a module) right under the package;
#: ``""`` is the package itself (the Sphinx extension's ``setup``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("version", "errors", "location", "outfile"),
    ("spec",),
    ("schema",),
    ("render",),
    ("steps",),
    ("providers",),
    ("verdict",),
    ("runner",),
    ("report",),
    ("sphinx",),
    ("cli",),
    ("__main__", ""),
)

#: Upward imports still to be removed, each with the reason; an entry that no longer
#: occurs fails the test, so the list only shrinks.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("schema.snapshot", "report"): "report.write_atomic: moves to a shared file writer",
    ("verdict.rewrite", "report"): "report.write_atomic: moves to a shared file writer",
}

FRONT_ENDS = ("sphinx", "cli")
FRONT_END_FILES = ("__init__.py", "__main__.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def box(module: str) -> str:
    return module.split(".")[0]


def layer_of(module: str) -> int:
    for i, boxes in enumerate(LAYERS):
        if box(module) in boxes:
            return i
    raise AssertionError(f"{module}: its box {box(module)!r} is in no row of LAYERS")


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in it (at the top, in a
    function, under ``TYPE_CHECKING``): ``from . import x`` counts as importing ``x``."""
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join([ROOT, *base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] + [target]
            # ``from pkg import submodule`` imports the submodule, not (only) pkg
            subs = [n for n in names[:-1] if n.removeprefix(ROOT + ".") in known]
            names = subs or [target]
        else:
            continue
        for name in names:
            if name == ROOT or name.startswith(ROOT + "."):
                rel = name.removeprefix(ROOT).lstrip(".")
                while rel not in known and "." in rel:
                    rel = rel.rsplit(".", 1)[0]
                if rel in known and rel != module:
                    out.add(rel)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports_of(m, p, known) for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return [*path[path.index(d) :], d]
            if d not in state and (found := visit(d)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(m, box(d)) for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m)}


def test_the_graph_sees_relative_and_submodule_imports():
    graph = import_graph()
    assert "steps.model" in graph["runner.execute"]  # from ..steps.model import LabPlan
    assert "spec.yamlmarks" in graph["spec.load"]  # from . import yamlmarks
    assert "providers.netns.holder" in graph["providers.netns.provider"]  # in a function


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_every_module_sits_in_a_layer():
    for m in modules():
        layer_of(m)
    boxes = [b for row in LAYERS for b in row]
    assert len(boxes) == len(set(boxes))


def test_imports_run_down_the_layers():
    upward = upward_imports(import_graph())
    assert upward - set(ALLOWED_UPWARD) == set()
    stale = set(ALLOWED_UPWARD) - upward
    assert not stale, f"no longer imported upward, remove from ALLOWED_UPWARD: {stale}"


def test_an_upward_import_is_caught():
    graph = {"spec.load": {"runner.execute"}, "runner.execute": {"spec.load"}}
    assert upward_imports(graph) == {("spec.load", "runner")}


def core_modules() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in FRONT_ENDS or (len(rel.parts) == 1 and rel.name in FRONT_END_FILES):
            continue
        out.append(path)
    return out


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_there_is_a_core_to_check():
    names = {p.relative_to(PACKAGE).as_posix() for p in core_modules()}
    assert {"errors.py", "spec/load.py", "runner/execute.py", "report.py"} <= names


def test_core_modules_do_not_import_sphinx_or_docutils():
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(imported_roots(p) & {"sphinx", "docutils"})
        for p in core_modules()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("entry", ["sphinxext.labbook", "sphinxext.labbook.cli"])
def test_entry_points_import(entry):
    """The Sphinx extension name and the ``labbook`` script's module stay where they were."""
    code = f"import {entry} as m; print(callable(getattr(m, 'setup', None) or m.main))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "True"


def test_importing_the_core_loads_no_sphinx():
    code = (
        "import sys; import sphinxext.labbook.runner.execute, sphinxext.labbook.spec, "
        "sphinxext.labbook.report, sphinxext.labbook.providers; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sphinx','docutils')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent.parent,
    ).stdout.strip()
    assert out == "[]"
