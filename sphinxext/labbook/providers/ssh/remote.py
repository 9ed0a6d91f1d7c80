"""The shell snippets the ssh provider runs on a node (POSIX sh, for the login shell)."""

from __future__ import annotations

import shlex

from ..environ import SESSION_ENV

#: Written before anything else by a command: the process group the command runs in
#: (sshd makes each channel's shell a session leader), so a timeout can kill it remotely.
PID_HEADER = "\x1eLBPID {pid}\x1e"
#: Printed by a session shell once its terminal is raw and silent: input may follow.
READY = "\x1eLBREADY\x1e"
#: Exit status of ``get`` for a file that does not exist.
MISSING = 44
#: Directories that hold administration tools: root's PATH on a netns node has them.
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def marker_env(token: str) -> str:
    """``LABBOOK_RUN=TOKEN``: inherited by everything a lab starts, found again at ``down``."""
    return f"LABBOOK_RUN={token}"


def command(argv: list[str], token: str) -> str:
    """Run ``argv`` (no shell) after announcing its process group on stderr."""
    header = _octal(PID_HEADER).format(pid="%d")
    return (
        f"printf '{header}' $$ >&2; {marker_env(token)}; export LABBOOK_RUN; "
        f"exec {shlex.join(argv)}"
    )


def kill_group(pgid: int) -> str:
    """Kill a command's process group and whatever left the group but not its session."""
    return (
        f"kill -9 -{pgid} 2>/dev/null; pkill -9 -s {pgid} 2>/dev/null; "
        f"kill -9 {pgid} 2>/dev/null; true"
    )


def session(token: str, columns: int = 160, rows: int = 50) -> str:
    """A ``bash`` that reads commands from a pipe and dies with its ssh channel.

    ``ssh -tt`` gives it a terminal, so programs see a tty as on the netns provider; the
    terminal is made raw and silent first (no echo, no line editing, ``\\n`` kept), then
    READY is printed, and only then does the local side send commands. Input is copied by
    ``cat`` into a FIFO that bash reads, so bash stays non-interactive. When the channel
    closes (a timeout kills the local ssh, or the run was killed), the terminal hangs up:
    ``cat`` sees the end of its input and kills the whole process group, which holds bash,
    the command it was running and everything it started in the background.
    """
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in SESSION_ENV.items())
    return "\n".join(
        [
            f"stty raw -echo cols {columns} rows {rows} 2>/dev/null",
            f"{marker_env(token)}; export LABBOOK_RUN",
            f"export {env}",
            f'PATH="$PATH:{SBIN}"; export PATH',
            f'd=$(mktemp -d "${{TMPDIR:-/tmp}}/.labbook-{token}.XXXXXX") && mkfifo "$d/in" '
            "|| exit 125",
            "exec 3<&0",
            # SIGHUP from the hang-up must not stop the watchdog before it kills the group.
            "{ trap '' HUP; cat <&3 >\"$d/in\"; kill -9 0; } &",
            "exec 3<&-",
            f"printf '{_octal(READY)}'",
            'bash --noprofile --norc <"$d/in"',
            "r=$?",
            'rm -rf "$d"',
            # bash ended by itself (`exit`): end the watchdog and what is left, keep bash's status.
            "trap '' TERM; kill -TERM 0",
            "exit $r",
        ]
    )


def put(path: str, mode: int | None, owner: str | None) -> str:
    """Write stdin to ``path``, creating its directory; then mode and owner if given."""
    q = shlex.quote(path)
    parent = shlex.quote(path.rsplit("/", 1)[0] or "/")
    steps = [f"mkdir -p {parent}", f"cat > {q}"]
    if mode is not None:
        steps.append(f"chmod {mode:o} {q}")
    if owner:
        steps.append(f"chown {shlex.quote(owner)} {q}")
    return " && ".join(steps)


def get(path: str) -> str:
    """Print ``path``, or exit with :data:`MISSING` when it does not exist."""
    q = shlex.quote(path)
    return f"if [ -e {q} ] || [ -L {q} ]; then exec cat {q}; else exit {MISSING}; fi"


def sweep(token: str) -> str:
    """Kill every process that carries the lab's marker (daemons that left the session too).

    Repeated until none is found, so children forked during a round are caught in the next.
    """
    marker = shlex.quote(marker_env(token))
    return (
        "for round in 1 2 3 4 5; do "
        f"pids=$(grep -lzxF {marker} /proc/[0-9]*/environ 2>/dev/null "
        "| sed -n 's,^/proc/\\([0-9]*\\)/environ$,\\1,p' | grep -vx $$); "
        '[ -n "$pids" ] || break; kill -9 $pids 2>/dev/null; done; '
        f'rm -rf "${{TMPDIR:-/tmp}}"/.labbook-{token}.* 2>/dev/null; true'
    )


def _octal(mark: str) -> str:
    """``mark`` for printf's format: the record separator written as ``\\036``."""
    return mark.replace("\x1e", "\\036")
