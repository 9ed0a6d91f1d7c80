"""The ``labbook`` command: ``main(argv) -> int``; each subcommand is a module beside it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import LabbookError
from ..runner.signals import Terminated, sigterm_raises

#: Modules of this package that add subcommands, in --help order.
COMMAND_MODULES = ("lab", "validate", "graph", "check", "report", "schema")
#: Commands of the ``lab`` module; parsed without importing the other, heavier modules
#: (``labbook exec`` is on the hot path of scripts and benchmarks).
LAB_COMMANDS = ("up", "exec", "down", "ls", "gc")

EPILOG = """\
exit codes: 0 success, 1 drift (a page disagrees with its lab), 2 bad input or usage,
3 a lab could not be brought up or a database could not be reached.
Run 'labbook COMMAND --help' for the options of each command."""


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labbook",
        description="Run the labs of a handbook and check that its pages tell the truth.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from ..version import __version__

    parser.add_argument("--version", action="version", version=f"labbook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(f".{name}", __package__).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and turn labbook's errors into exit codes."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(("lab",) if argv[:1] and argv[0] in LAB_COMMANDS else COMMAND_MODULES)
    args = parser.parse_args(argv)
    try:
        with sigterm_raises():
            rc: int = args.func(args)
        return rc
    except LabbookError as exc:
        for line in str(exc).splitlines() or [exc.__class__.__name__]:
            print(f"labbook: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("labbook: interrupted; the lab was torn down", file=sys.stderr)
        return 130
    except Terminated:
        print("labbook: terminated; the lab was torn down", file=sys.stderr)
        return 143
    except BrokenPipeError:  # `labbook ... | head`: the reader left; that is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
