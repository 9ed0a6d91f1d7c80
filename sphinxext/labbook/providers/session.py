"""A persistent shell per node: commands typed one after another, as a user would."""

from __future__ import annotations

import contextlib
import fcntl
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
from .procs import kill_tree
from .result import ExecResult


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
        self.fd = master
        self._token = secrets.token_hex(6)
        self._marker = re.compile(rb"\x1eLB" + self._token.encode() + rb" (\d+)\x1e")
        self.alive = True

    def run(self, command: str, timeout: float | None = 60.0) -> ExecResult:
        """Run ``command`` (shell syntax, may span lines) and wait for it to finish.

        On timeout the whole process tree of the session is killed, the session is
        closed (the next :meth:`Lab.session` opens a fresh one) and the partial
        output is returned with ``timed_out=True`` and ``rc=124``.
        """
        if not self.alive:
            raise ProviderError(f"the shell session of {self.name} has ended")
        script = f"{{ {command}\n}} </dev/null; printf '\\036LB{self._token} %d\\036' $?\n"
        start = time.monotonic()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(script.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise ProviderError(f"the shell session of {self.name} has ended") from None
        deadline = None if timeout is None else start + timeout
        buf = bytearray()
        while True:
            m = self._marker.search(buf)
            if m:
                out = bytes(buf[: m.start()])
                return ExecResult(
                    command, int(m.group(1)), _decode(out), duration=time.monotonic() - start
                )
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait == 0.0:
                self.close()
                return ExecResult(
                    command,
                    124,
                    _decode(bytes(buf)),
                    duration=time.monotonic() - start,
                    timed_out=True,
                )
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:  # the shell died (e.g. the command ran `exit`)
                self.close()
                rc = self.proc.returncode if self.proc.returncode is not None else 255
                return ExecResult(
                    command, rc, _decode(bytes(buf)), duration=time.monotonic() - start
                )
            buf += chunk

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


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
