"""The ``labbook`` command: ``main(argv) -> int``; each subcommand is a module beside it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import LabbookError
from ..runner.signals import Terminated, sigterm_raises
from .table import COMMAND_MODULES, COMMANDS

__all__ = ["COMMANDS", "COMMAND_MODULES", "main"]


def _modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The module of the command ``argv`` names (none for ``--help``, ``--version`` or a
    name that is no command: the table answers those)."""
    for arg in argv:
        if not arg.startswith("-"):
            return (COMMANDS[arg][0],) if arg in COMMANDS else ()
        if arg == "--":
            break
    return ()


def _exec_netns(argv: list[str]) -> int | None:
    """``labbook exec NAME NODE [--] COMMAND...`` on a netns lab, without argparse: the
    command scripts run most, so it costs little more than a Python start. None when the
    full parser must answer (an option, no command, a lab of another provider)."""
    if argv[:1] != ["exec"] or len(argv) < 4 or any(a.startswith("-") for a in argv[1:3]):
        return None
    name, node, command = argv[1], argv[2], argv[3:]
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        return None
    from ..providers.environ import exec_env
    from ..providers.netns import enter

    if enter.netns_lab(name) is None:
        return None
    return enter.run(name, node, command, exec_env())


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and turn labbook's errors into exit codes."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        rc = _exec_netns(argv)
        if rc is not None:
            return rc
        from .parser import build_parser

        args = build_parser(_modules_for(argv)).parse_args(argv)
        with sigterm_raises():
            rc = args.func(args)
        return rc
    except LabbookError as exc:
        from ..masking import mask  # every password form, whatever raised the error

        for line in mask(str(exc)).splitlines() or [exc.__class__.__name__]:
            print(f"labbook: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("labbook: interrupted; the lab was torn down", file=sys.stderr)
        return 130
    except Terminated:
        print("labbook: terminated; the lab was torn down", file=sys.stderr)
        return 143
    except BrokenPipeError:  # `labbook ... | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
