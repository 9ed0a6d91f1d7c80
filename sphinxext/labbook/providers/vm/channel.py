"""The host's end of a VM's control channel, and the persistent shell sessions over it.

A VM's agent listens on a virtio-serial port that QEMU exposes as a unix socket in
the lab's state directory. One message per line each way: a dictionary, marshalled,
base64-encoded (see guest/agent.py). Requests are answered in order; an answer whose
id is not the one awaited (left over from a process that went away mid-request) is
skipped.
"""

from __future__ import annotations

import binascii
import contextlib
import itertools
import marshal
import os
import secrets
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from ...errors import ProviderError
from ..base import ExecResult
from ..environ import SESSION_ENV, node_env

#: Time a request may take beyond the timeout of the command it carries (the agent
#: enforces that timeout itself and answers; this only catches a guest that hangs).
MARGIN = 30.0
#: How often a greeting is repeated while the guest is still booting.
HELLO_EVERY = 1.0


class Channel:
    """A connection to one VM's agent. ``why`` explains a broken channel (console tail)."""

    def __init__(self, path: str, name: str, why: Callable[[], str] = lambda: "") -> None:
        self.path = path
        self.name = name
        self.why = why
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.ids = itertools.count(1)

    def connect(self, deadline: float, alive: Callable[[], bool] = lambda: True) -> None:
        """Connect to the socket (QEMU makes it as it starts) and wait for the agent."""
        while self.sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                s.connect(self.path)
                self.sock = s
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if not alive():
                    self._broken("its QEMU process ended")
                if time.monotonic() > deadline:
                    self._broken("its control socket never appeared")
                time.sleep(0.01)
        self._hello(deadline, alive)

    def _hello(self, deadline: float, alive: Callable[[], bool]) -> None:
        sent: set[int] = set()
        while True:
            ident = next(self.ids)
            self._send({"id": ident, "op": "hello"})
            sent.add(ident)
            step = min(deadline, time.monotonic() + HELLO_EVERY)
            while time.monotonic() < step:
                msg = self._receive(step)
                if msg is not None and msg.get("id") in sent:
                    return
            if not alive():
                self._broken("its QEMU process ended before its agent answered")
            if time.monotonic() >= deadline:
                self._broken("its agent did not answer in time")

    def request(self, op: str, wait: float | None, **fields: Any) -> dict[str, Any]:
        """Send one request and return its answer, waiting ``wait`` seconds (None: for
        ever) plus a margin; ProviderError with the agent's own error if it failed."""
        if self.sock is None:
            raise ProviderError(f"{self.name}: not connected")
        ident = next(self.ids)
        self._send({"id": ident, "op": op, **fields})
        deadline = None if wait is None else time.monotonic() + wait + MARGIN
        while True:
            msg = self._receive(deadline)
            if msg is None:
                if deadline is not None and time.monotonic() >= deadline:
                    self._broken(f"its agent did not answer a request ({op}) in time")
                continue
            if msg.get("id") == ident:
                if "error" in msg:
                    raise ProviderError(f"{self.name}: {msg['error']}")
                return msg

    def _send(self, msg: dict[str, Any]) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(binascii.b2a_base64(marshal.dumps(msg, 4)))
        except OSError:
            self._broken("its control channel closed")

    def _receive(self, deadline: float | None) -> dict[str, Any] | None:
        """The next message, or None when ``deadline`` passes (or a line is garbled)."""
        assert self.sock is not None
        while b"\n" not in self.buf:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                return None
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self._broken("its control channel closed (did the VM stop?)")
            self.buf += chunk
        nl = self.buf.index(b"\n")
        line = bytes(self.buf[:nl])
        del self.buf[: nl + 1]
        try:
            msg = marshal.loads(binascii.a2b_base64(line))
        except (ValueError, EOFError, TypeError, binascii.Error):
            return None  # the tail of a message meant for a process that went away
        return msg if isinstance(msg, dict) else None

    def _broken(self, what: str) -> None:
        self.close()
        tail = self.why()
        raise ProviderError(f"{self.name}: {what}" + (f"; {tail}" if tail else ""))

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        self.buf.clear()


def run_exec(
    chan: Channel, argv: list[str], timeout: float | None, input: bytes | None
) -> ExecResult:
    """``argv`` in the guest (no shell), stdout and stderr apart; killed whole at timeout."""
    import shlex

    start = time.monotonic()
    res = chan.request(
        "exec", timeout, argv=list(argv), env=node_env(), cwd="/root", input=input, timeout=timeout
    )
    return ExecResult(
        shlex.join(argv),
        res["rc"],
        _text(res["out"]),
        _text(res["err"]),
        time.monotonic() - start,
        timed_out=bool(res.get("timed_out")),
    )


class VmSession:
    """A persistent ``bash`` in the guest (the agent's twin of the host's PtySession).

    Commands see a terminal on stdout and stderr (interleaved as a terminal shows
    them) and /dev/null on stdin; ``cd`` and ``export`` carry over. At a timeout the
    agent kills the shell and everything it started; the session is then over and
    :meth:`Lab.session` opens a fresh one.
    """

    def __init__(
        self, chan: Channel, name: str, columns: int = 160, env: dict[str, str] | None = None
    ) -> None:
        self.chan = chan
        self.name = name
        self.sid = secrets.token_hex(6)
        # as the host's PtySession: PS1 and PS2 empty, then the lab's own variables
        env = {**node_env(), **SESSION_ENV, **(env or {})}
        chan.request(
            "open",
            30,
            sid=self.sid,
            argv=["bash", "--noprofile", "--norc"],
            env=env,
            cwd="/root",
            columns=columns,
        )
        self.alive = True

    def run(self, command: str, timeout: float | None = 60.0) -> ExecResult:
        if not self.alive:
            raise ProviderError(f"the shell session of {self.name} has ended")
        start = time.monotonic()
        try:
            res = self.chan.request("run", timeout, sid=self.sid, cmd=command, timeout=timeout)
        except ProviderError:
            self.alive = False
            raise
        if res.get("ended"):
            self.alive = False
        return ExecResult(
            command,
            res["rc"],
            _text(res["out"]),
            duration=time.monotonic() - start,
            timed_out=bool(res.get("timed_out")),
        )

    def close(self) -> None:
        """End the shell and every process it started; idempotent."""
        if not self.alive:
            return
        self.alive = False
        if self.chan.sock is not None:
            with contextlib.suppress(ProviderError):
                self.chan.request("close", 30, sid=self.sid)

    def __enter__(self) -> VmSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def console_tail(console: str, qemu_log: str, lines: int = 12) -> str:
    """What QEMU said, and the last lines the VM printed on its console (for errors)."""
    said = []
    for what, path in (("QEMU", qemu_log), ("console", console)):
        kept = _tail(path, lines)
        if kept:
            said.append(f"{what}: " + " | ".join(kept))
    return "; ".join(said) or "its console is empty"


def _tail(path: str, lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 8192))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [x.rstrip() for x in text.splitlines() if x.strip()][-lines:]


def _text(data: bytes | str) -> str:
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
