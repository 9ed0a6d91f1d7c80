"""The environment commands in a lab start with: no colours, no pagers, a stable locale.

A module of its own, free of imports, so ``labbook exec`` need not load the sessions."""

from __future__ import annotations

import os
import sys

#: Environment every session starts with.
SESSION_ENV = {
    "TERM": "dumb",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PAGER": "cat",
    "SYSTEMD_PAGER": "",
    "GIT_PAGER": "cat",
    "PS1": "",
    "PS2": "",
    "HISTFILE": "/dev/null",
}

#: Where commands look for programs in a node.
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def node_env() -> dict[str, str]:
    """The environment commands in a node start with (the same as in a session, without
    the empty prompts a session's shell needs)."""
    env = {"PATH": NODE_PATH, "HOME": "/root", **SESSION_ENV}
    for key in ("PS1", "PS2"):
        env.pop(key, None)
    return env


def exec_env() -> dict[str, str]:
    """What ``labbook exec`` runs a command with: :func:`node_env`, and the caller's
    terminal type when it runs at a terminal (an interactive command wants the real one)."""
    env = node_env()
    if sys.stdin.isatty() and os.environ.get("TERM"):
        env["TERM"] = os.environ["TERM"]
    return env
