"""Shared helpers of the netns tests: lab fixtures, a reaper for detached labs, commands."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sphinxext.labbook.providers.netns import NetnsLab, NetnsProvider, state
from sphinxext.labbook.spec import LabSpec, load_spec, parse_spec

REPO = Path(__file__).resolve().parent.parent
LABS = Path(__file__).parent / "labs"
_PR_SET_CHILD_SUBREAPER = 36


def spec(name: str) -> LabSpec:
    return load_spec(LABS / f"{name}.yaml")


def variant(name: str, changes: dict[str, str]) -> LabSpec:
    """The lab ``name`` with pieces of its YAML replaced (e.g. another macvlan mode)."""
    text = (LABS / f"{name}.yaml").read_text()
    for old, new in changes.items():
        assert old in text, f"{old!r} is not in {name}.yaml"
        text = text.replace(old, new)
    return parse_spec(text, str(LABS / f"{name}.yaml"))


def sh(lab: NetnsLab, node: str, script: str, timeout: float = 20) -> tuple[int, str]:
    """Run a shell snippet in ``node``: (exit code, stdout + stderr)."""
    r = lab.exec(node, ["sh", "-c", script], timeout=timeout)
    return r.rc, r.output


def reaches(lab: NetnsLab, node: str, address: str) -> bool:
    """One ping from ``node`` to ``address`` is answered (within a second)."""
    flag = "-6" if ":" in address else "-4"
    return sh(lab, node, f"ping {flag} -c 1 -W 1 {address}")[0] == 0


def labbook(*args: str, check: bool = False, **kw: object) -> subprocess.CompletedProcess[str]:
    """``python -m sphinxext.labbook ARGS`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "sphinxext.labbook", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
        **kw,
    )


def _reap_detached() -> None:
    """Collect lab holders that were re-parented to this process and have exited.

    A lab brought up by another process (``labbook up``) is re-parented to the nearest
    subreaper when that process exits. A proper init reaps it after ``labbook down``;
    this machine's PID 1 does not, so the test process stands in for it.
    """
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] == "Z" and fields[1] == me and comm.startswith("labbook-"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry), os.WNOHANG)


@pytest.fixture(autouse=True)
def subreaper() -> Iterator[None]:
    """Make this process the subreaper of the labs the test's subprocesses leave behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        _reap_detached()
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def provider() -> NetnsProvider:
    return NetnsProvider()


@pytest.fixture
def lab_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A lab name unique to this test; whatever runs under it is torn down afterwards."""
    name = f"t{os.getpid() % 10000}-{abs(hash(request.node.nodeid)) % 10**6}"
    yield name
    st = state.read(name)
    if st is not None and st.status == "up":
        NetnsProvider().attach(name).down()
    state.remove(name)
