"""A persistent shell per node: commands typed one after another, as a user would."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import secrets
import select
import struct
import subprocess
import termios
import time

from ..errors import ProviderError
from .environ import SESSION_ENV
from .output import OutputBuffer, drop_job_notices
from .procs import kill_tree
from .result import ExecResult

#: Bytes read from the shell at a time.
READ_SIZE = 1 << 16
_runs = itertools.count(1)


class PtySession:
    """``bash`` reading commands from a pipe, writing to a pseudo-terminal.

    stdin is a pipe so that bash stays non-interactive (no prompts, no job control,
    no history expansion); stdout and stderr are one pty, so programs line-buffer as
    on a terminal and their two streams interleave in the order a terminal shows.
    Each command runs with stdin from /dev/null, so it cannot swallow the next one.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        name: str = "",
        columns: int = 160,
        env: dict[str, str] | None = None,
        spill_dir: str | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # keep "\n" as "\n" (no "\r\n")
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        full_env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            **SESSION_ENV,
            **(env or {}),
        }
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                env=full_env,
                close_fds=True,
            )
        except OSError as exc:
            os.close(master)
            os.close(slave)
            raise ProviderError(f"cannot start a shell for {name}: {exc}") from None
        os.close(slave)
        os.set_blocking(master, False)
        self.fd = master
        self._token = secrets.token_hex(6)
        token = self._token.encode()
        self._begin = b"\x1eLB" + token + b"B\x1e"
        self._marker = re.compile(rb"\x1eLB" + token + rb" (\d{1,3}) (\d{0,10})\x1e")
        self._marker_max = len(token) + 19
        #: pids of the shell's background jobs (their notices are dropped from output)
        self._jobs: set[str] = set()
        #: Where the whole output of a long command is kept (None: nowhere).
        self.spill_dir = spill_dir
        self.alive = True

    def run(self, command: str, timeout: float | None = 60.0) -> ExecResult:
        """Run ``command`` (shell syntax, may span lines) and wait for it to finish.

        On timeout the whole process tree of the session is killed, the session is
        closed (the next :meth:`Lab.session` opens a fresh one) and the partial
        output is returned with ``timed_out=True`` and ``rc=124``.
        """
        if not self.alive:
            raise ProviderError(f"the shell session of {self.name} has ended")
        # The begin mark: what the shell says before it (of jobs that ended since the last
        # command) is no output of this one. The end mark: the status, and the pid of the
        # last background job (whose notices are no output of any command).
        script = (
            f"printf '\\036LB{self._token}B\\036'; {{ {command}\n}} </dev/null; "
            f"printf '\\036LB{self._token} %d %s\\036' $? \"$!\"\n"
        )
        start = time.monotonic()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(script.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise ProviderError(f"the shell session of {self.name} has ended") from None
        deadline = None if timeout is None else start + timeout
        buf = OutputBuffer(self._marker, self._marker_max, self._spill_path(), begin=self._begin)
        while not buf.feed(self._read(deadline)):
            if not self.alive:  # the shell ended (`exit`, `exec bash`, a syntax error)
                return _result(command, buf, self._exit_status(), start, self._jobs, ended=True)
            if deadline is not None and time.monotonic() >= deadline:
                self.close()
                return _result(command, buf, 124, start, self._jobs, timed_out=True, ended=True)
        assert buf.match is not None
        if buf.match.group(2):
            self._jobs.add(buf.match.group(2).decode())
        return _result(command, buf, buf.rc, start, self._jobs)

    def _read(self, deadline: float | None) -> bytes:
        """The next bytes the shell wrote (b"" when none came before ``deadline``); at the
        end of the shell's output, the session is closed. (The pty is non-blocking: a
        read is tried first, and select() waits only when nothing is there.)"""
        try:
            chunk = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            select.select([self.fd], [], [], wait)
            return b""
        except OSError:  # EIO: the shell and everything holding the pty are gone
            chunk = b""
        if not chunk:
            self.close()
        return chunk

    def _exit_status(self) -> int:
        rc = self.proc.returncode
        if rc is None:
            return 255
        return 128 - rc if rc < 0 else rc

    def _spill_path(self) -> str | None:
        return spill_path(self.spill_dir, self.name)

    def close(self) -> None:
        """End the shell and every process it started; idempotent."""
        if not self.alive:
            return
        self.alive = False
        kill_tree(self.proc.pid)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def __enter__(self) -> PtySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spill_path(spill_dir: str | None, name: str) -> str | None:
    """A new file in ``spill_dir`` for the whole output of one command of shell ``name``."""
    if not spill_dir:
        return None
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "shell"
    return os.path.join(spill_dir, f"{base}-{next(_runs)}-{secrets.token_hex(3)}.out")


def bounded(data: bytes | str, spill_dir: str | None, name: str, jobs: set[str]) -> tuple[str, str]:
    """(what to show, path of the whole output or "") for an output read whole (a VM's)."""
    if isinstance(data, str):
        data = data.encode()
    buf = OutputBuffer(_NEVER, 1, spill_path(spill_dir, name))
    buf.feed(data)
    text, whole = buf.text()
    return drop_job_notices(text, jobs), whole


#: An end marker that never matches (for outputs that are read whole).
_NEVER = re.compile(rb"(?!)()")


def _result(
    command: str,
    buf: OutputBuffer,
    rc: int | None,
    start: float,
    jobs: set[str],
    *,
    timed_out: bool = False,
    ended: bool = False,
) -> ExecResult:
    text, whole = buf.text()
    return ExecResult(
        command,
        255 if rc is None else rc,
        drop_job_notices(text, jobs),
        duration=time.monotonic() - start,
        timed_out=timed_out,
        full_output=whole,
        ended=ended,
    )
