"""The commands of ``labbook``: which module adds each, and its help line."""

from __future__ import annotations

#: Every command, in --help order: the module beside this one that adds it, and its help
#: line. ``labbook --help`` reads this table and imports no command module; a command
#: imports only its own module (``labbook exec`` is on the hot path of scripts).
#: tests/test_cli_start.py checks the table against what the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("lab", "bring a lab up and leave it running"),
    "exec": ("lab", "run a command inside a node of a running lab"),
    "down": ("lab", "tear a running lab down"),
    "ls": ("lab", "list running labs"),
    "gc": ("lab", "remove what killed runs left behind"),
    "validate": ("validate", "check lab specs; print the JSON Schema of the format"),
    "graph": ("graph", "draw the topology of a lab spec"),
    "check": ("check", "run the labs of a handbook and report drift"),
    "report": ("report", "work with labcheck reports"),
    "schema": ("schema", "draw a database schema, or snapshot it to a file"),
    "schema-diff": ("schema", "compare a documented schema with a live database"),
}
#: Modules of this package that add subcommands.
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))
