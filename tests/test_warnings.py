"""Warnings: one location type, one list of subtypes, one function that emits them."""

from __future__ import annotations

import ast
from pathlib import Path

from sphinxext.labbook.location import Location
from sphinxext.labbook.sphinx.warn import Subtype

PACKAGE = Path(__file__).parent.parent / "sphinxext" / "labbook"


def test_a_location_prints_as_much_as_is_known():
    assert str(Location("a.rst", 3, 5)) == "a.rst:3:5"
    assert str(Location("a.rst", 3)) == "a.rst:3"
    assert str(Location("a.rst")) == "a.rst"
    # Sphinx takes a string without ":" for a document name: a whole-file location keeps one
    assert Location("labs/pair.yaml").for_sphinx() == "labs/pair.yaml:"
    assert Location("a.rst", 3).for_sphinx() == "a.rst:3"


def test_subtypes_are_the_names_suppress_warnings_takes():
    assert {f"labbook.{s}" for s in Subtype} >= {
        "labbook.drift",
        "labbook.not-run",
        "labbook.error",
        "labbook.directive",
        "labbook.spec",
        "labbook.schema",
    }


def test_every_warning_goes_through_warn():
    """No module but sphinx/warn.py calls ``logger.warning``: every warning has a subtype
    from the enum and a Location."""
    callers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "warning"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "logger"
            ):
                callers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert [c for c in callers if not c.startswith("sphinx/warn.py:")] == []
    assert callers, "the check would pass on a package that never warns"
