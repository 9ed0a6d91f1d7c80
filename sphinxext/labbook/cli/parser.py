"""The ``labbook`` argument parser: every command of the table, in full or by name."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .table import COMMAND_MODULES, COMMANDS

EPILOG = """\
exit codes: 0 success, 1 drift (a page disagrees with its lab), 2 bad input or usage,
3 a lab could not be brought up or a database could not be reached.
Run 'labbook COMMAND --help' for the options of each command."""


def _columns() -> int:
    """The terminal's width as argparse measures it, without the shutil module it imports
    for that (and, with it, the compression modules): ``$COLUMNS``, else the terminal."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class Parser(argparse.ArgumentParser):
    """argparse's parser, measuring the terminal itself (see :func:`_columns`)."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser with the commands of ``modules`` in full; every other command is there
    by name and help line only (enough for ``--help`` and for "invalid choice")."""
    parser = Parser(
        prog="labbook",
        description="Run the labs of a handbook and check that its pages tell the truth.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from ..version import __version__

    parser.add_argument("--version", action="version", version=f"labbook {__version__}")
    # prog given: argparse need not build a help formatter (and import shutil) to make it
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, prog="labbook", parser_class=Parser
    )
    for name in modules:
        importlib.import_module(f".{name}", __package__).register(sub)
    # The rest by name (in the table's order: with no module loaded, --help lists them).
    for command, (_, help_line) in COMMANDS.items():
        if command not in sub.choices:
            sub.add_parser(command, help=help_line, add_help=False)
    return parser
