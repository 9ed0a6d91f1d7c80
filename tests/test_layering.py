"""The core never imports Sphinx or docutils; only the two front ends do."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "sphinxext" / "labbook"
FRONT_ENDS = ("sphinx", "commands")
FRONT_END_FILES = ("cli.py", "__init__.py", "__main__.py")


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
