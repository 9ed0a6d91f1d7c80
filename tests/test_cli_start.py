"""The ``labbook`` command imports only what the command it runs needs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from conftest import NEEDS_USERNS
from test_netns_support import REPO, lab_name, labbook, subreaper  # noqa: F401  (fixtures)

from sphinxext.labbook import cli

#: Packages no quick command should load.
HEAVY = ("sphinx", "docutils", "yaml", "jsonschema", "pyroute2", "sqlalchemy", "sqlglot")


def _modules_after(argv: list[str]) -> set[str]:
    """Every module loaded once ``labbook ARGV`` has run, in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "from sphinxext.labbook.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "print('\\nMODULES', json.dumps(sorted(sys.modules)))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    line = next(x for x in r.stdout.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.split(" ", 1)[1]))


def test_the_command_table_is_what_the_modules_register() -> None:
    for module in cli.COMMAND_MODULES:
        parser = argparse.ArgumentParser(prog="labbook")
        sub = parser.add_subparsers()
        __import__(f"sphinxext.labbook.cli.{module}", fromlist=["register"]).register(sub)
        registered = {a.dest: a.help for a in sub._choices_actions}
        table = {name: help for name, (mod, help) in cli.COMMANDS.items() if mod == module}
        assert registered == table, module


def test_help_lists_every_command_without_importing_them(capsys) -> None:
    loaded = _modules_after(["--help"])
    commands = {m for m in loaded if m.startswith("sphinxext.labbook.cli.")}
    assert commands == {"sphinxext.labbook.cli.parser", "sphinxext.labbook.cli.table"}, commands
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    try:
        cli.main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name, (_, help_line) in cli.COMMANDS.items():
        assert name in out and help_line in out


def test_an_unknown_command_is_named_with_the_choices(capsys) -> None:
    try:
        cli.main(["frobnicate"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err and "'schema-diff'" in err


def test_a_command_loads_its_own_module_only() -> None:
    loaded = _modules_after(["validate", "tests/labs/pair.yaml"])
    assert {m for m in loaded if m.startswith("sphinxext.labbook.cli.")} == {
        "sphinxext.labbook.cli.parser",
        "sphinxext.labbook.cli.table",
        "sphinxext.labbook.cli.validate",
    }


@NEEDS_USERNS
def test_exec_on_a_netns_lab_loads_neither_argparse_nor_the_provider(lab_name) -> None:  # noqa: F811
    assert labbook("up", "tests/labs/pair.yaml", "--name", lab_name).returncode == 0
    try:
        loaded = _modules_after(["exec", lab_name, "alpha", "--", "true"])
    finally:
        labbook("down", lab_name)
    assert "argparse" not in loaded
    assert "sphinxext.labbook.providers.netns.provider" not in loaded
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    # the state is read as plain JSON: these two cost more than entering the node does
    assert not loaded & {"dataclasses", "typing"}


def test_drawing_from_a_snapshot_loads_no_database_library(tmp_path) -> None:
    out = tmp_path / "drawing.mmd"
    loaded = _modules_after(
        ["schema", "schemas/keystone.snapshot.json", "-f", "mermaid", "-o", str(out)]
    )
    assert out.read_text().startswith("erDiagram")
    assert not {m.split(".")[0] for m in loaded} & {"sqlalchemy", "sqlglot", "alembic"}
    assert not {m.split(".")[0] for m in loaded} & {"jsonschema", "pyroute2", "sphinx"}
