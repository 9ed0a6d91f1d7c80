"""OpenSSH with one multiplexed master connection per node: argv, masters, commands."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from dataclasses import dataclass

from ...errors import ProviderError
from ..base import ExecResult
from . import remote
from .inventory import HostEntry

#: Host key checking a saved ssh config may turn off itself (``vagrant ssh-config`` does).
CONFIG_SAYS_VERIFY = (None, "", "ask", "yes", "true")
#: How long ``down`` waits for remote cleanup through a master.
CLEANUP_TIMEOUT = 15.0

_PID = re.compile(remote.PID_HEADER.format(pid=r"(\d+)").encode())


@dataclass(frozen=True)
class Target:
    """One node as ssh reaches it: its inventory entry and its master's control socket."""

    node: str
    entry: HostEntry
    control_path: str
    insecure: bool = False
    connect_timeout: int = 10

    def options(self) -> list[str]:
        """``-o`` options; ssh keeps the first value of each, so ours come first."""
        e = self.entry
        opts = [
            ("BatchMode", "yes"),
            ("ControlPath", self.control_path),
            ("ConnectTimeout", str(self.connect_timeout)),
            ("LogLevel", "ERROR"),
            ("ServerAliveInterval", "10"),
            ("ServerAliveCountMax", "3"),
        ]
        if self.insecure:
            opts += [("StrictHostKeyChecking", "no"), ("UserKnownHostsFile", "/dev/null")]
        elif e.strict_host_key_checking in CONFIG_SAYS_VERIFY:
            opts.append(("StrictHostKeyChecking", "yes"))
        if e.config_file is None:
            for key, value in (
                ("Port", e.port),
                ("User", e.user),
                ("IdentityFile", e.identity_file),
                ("UserKnownHostsFile", e.known_hosts),
                ("ProxyJump", e.jump),
                ("ProxyCommand", e.proxy_command),
            ):
                if value is not None:
                    opts.append((key, str(value)))
            if e.identity_file:
                opts.append(("IdentitiesOnly", "yes"))
        opts += list(e.options)
        out = []
        for key, value in opts:
            out += ["-o", f"{key}={value}"]
        return out

    def argv(self, *flags: str) -> list[str]:
        """``ssh [-F CONFIG] OPTIONS FLAGS HOST``; the remote command is appended after."""
        config = ["-F", self.entry.config_file] if self.entry.config_file else []
        return ["ssh", *config, *self.options(), *flags, self.entry.host]

    def client(self, *flags: str) -> list[str]:
        """A client that rides on the master (and never becomes one itself)."""
        return self.argv("-o", "ControlMaster=no", *flags)

    @property
    def log(self) -> str:
        return self.control_path + ".log"


def open_masters(targets: list[Target]) -> None:
    """Start every node's master connection at once; raise naming each node that failed."""
    started: list[tuple[Target, subprocess.Popen[bytes]]] = []
    for t in targets:
        with open(t.log, "wb") as log:
            argv = t.argv("-M", "-N", "-f", "-o", "ControlPersist=yes")
            started.append(
                (
                    t,
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    ),
                )
            )
    failed = []
    deadline = time.monotonic() + max(t.connect_timeout for t in targets) * 3 + 5
    for t, p in started:
        try:
            rc = p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
        if rc != 0 or not master_alive(t):
            failed.append(f"node {t.node} ({t.entry.address}): {_why(t, rc)}")
    if failed:
        raise ProviderError("cannot reach " + "; ".join(failed))


def _why(t: Target, rc: int | None) -> str:
    if rc is None:
        return "no answer (ssh did not finish connecting)"
    try:
        with open(t.log, encoding="utf-8", errors="replace") as f:
            lines = [x.strip() for x in f if x.strip() and not x.startswith("@")]
    except OSError:
        lines = []
    text = lines[-1] if lines else f"ssh exited with status {rc}"
    if "Host key verification failed" in text or any(
        "IDENTIFICATION HAS CHANGED" in x for x in lines
    ):
        text += (
            " (its host key is not the one in known_hosts; fix known_hosts, or pass "
            "insecure=true for a throwaway lab)"
        )
    return text


def master_alive(t: Target) -> bool:
    p = subprocess.run(
        t.argv("-O", "check"), stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    return p.returncode == 0


def close_master(t: Target) -> None:
    """``ssh -O exit``: the master ends, and with it every channel still open."""
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(
            t.argv("-O", "exit"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(t.control_path)


def run(
    t: Target,
    argv: list[str],
    token: str,
    *,
    timeout: float | None = None,
    input: bytes | None = None,
) -> ExecResult:
    """Run ``argv`` on the node; on timeout its remote process group is killed too."""
    start = time.monotonic()
    cmd = " ".join(argv)
    try:
        p = subprocess.run(
            [*t.client("-T"), remote.command(argv, token)],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pgid, err = _split_header(exc.stderr or b"")
        if pgid:
            shell(t, remote.kill_group(pgid), timeout=CLEANUP_TIMEOUT)
        return ExecResult(
            cmd, 124, _s(exc.stdout), _s(err), time.monotonic() - start, timed_out=True
        )
    pgid, err = _split_header(p.stderr)
    if pgid is None and p.returncode == 255:
        raise ProviderError(
            f"node {t.node} ({t.entry.address}) cannot be reached: "
            f"{_s(p.stderr).strip() or 'ssh failed'}"
        )
    return ExecResult(cmd, p.returncode, _s(p.stdout), _s(err), time.monotonic() - start)


def shell(
    t: Target, script: str, *, timeout: float | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a shell snippet of :mod:`.remote` on the node, over the master."""
    try:
        return subprocess.run(
            [*t.client("-T"), script],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProviderError(
            f"node {t.node} ({t.entry.address}) did not answer within {timeout:g} s"
        ) from None


def _split_header(stderr: bytes) -> tuple[int | None, bytes]:
    m = _PID.search(stderr)
    if m is None:
        return None, stderr
    return int(m.group(1)), stderr[: m.start()] + stderr[m.end() :]


def _s(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")
