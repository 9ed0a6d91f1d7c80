"""Shared fixtures: Sphinx's testing fixtures, database servers (dbservers.py) and a check
that no test leaves anything behind."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from sphinxext.labbook.providers.labstate import state_root

pytest_plugins = ["sphinx.testing.fixtures", "dbservers"]

ROOTS = Path(__file__).parent / "roots"
IS_ROOT = os.geteuid() == 0

#: A mermaid diagram in a page: sphinxcontrib-mermaid writes it in a <pre>, older releases
#: in a <div>.
MERMAID = re.compile(r'<(pre|div)\s+class="mermaid">(?P<code>.*?)</\1>', re.S)

#: How long teardown may take to finish after a test before what is left counts as leaked.
LEAK_GRACE = 5.0


def _userns_refused() -> str:
    """Why this kernel refuses this user a user namespace ("" when it allows one)."""
    from sphinxext.labbook.providers import userns
    from sphinxext.labbook.providers.netns import nsutil

    pid = os.fork()
    if pid == 0:  # pragma: no cover - a throwaway child
        code = 0
        try:
            nsutil.unshare(userns.CLONE_NEWUSER)
        except OSError as exc:
            code = exc.errno or 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    err = os.waitstatus_to_exitcode(status)
    return userns.why_refused(OSError(err, os.strerror(err))) if err else ""


#: Labs live in user namespaces, as root and as an ordinary user: their tests skip only
#: where the kernel refuses those (and say which setting does).
USERNS_REFUSED = _userns_refused()
NEEDS_USERNS = pytest.mark.skipif(bool(USERNS_REFUSED), reason=USERNS_REFUSED or "-")


def warnings_of(app) -> str:
    """A Sphinx test app's warnings without colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", app.warning.getvalue())


@pytest.fixture(scope="session")
def rootdir() -> Path:
    return ROOTS


def _host_state() -> dict[str, set[str]]:
    """What a lab could leak on the host: namespaces, interfaces, mounts, processes, state."""
    state: dict[str, set[str]] = {}
    netns = Path("/run/netns")
    state["netns"] = set(os.listdir(netns)) if netns.is_dir() else set()
    state["links"] = set(os.listdir("/sys/class/net"))
    with open("/proc/self/mountinfo") as f:
        state["mounts"] = {line.split()[4] for line in f if "labbook" in line}
    labstate = Path(state_root())
    state["state"] = (
        {str(p.relative_to(labstate)) for p in labstate.rglob("*")} if labstate.is_dir() else set()
    )
    out = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    state["processes"] = set()
    for line in out.splitlines():
        pid, stat, args = [*line.split(None, 2), "", ""][:3]
        # a zombie is already dead (it holds a pid until its parent reaps it)
        if stat.startswith("Z") or not re.search(r"labbook-(node|init|holder)|qemu-system", args):
            continue
        state["processes"].add(f"{pid} {args}")
    state["processes"] |= _fake_lab_processes()
    return state


def _fake_lab_processes() -> set[str]:
    """Processes started by the fake provider's labs (they run on the host itself)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if b"LABBOOK_FAKE_LAB=" in f.read():
                    found.add(f"{entry} (a fake lab's process)")
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest):
    """Fail a test that leaves a namespace, interface, mount, process or state file behind."""
    before = _host_state()
    yield
    if request.node.get_closest_marker("leaks_ok"):
        return
    # The kernel ends a PID namespace's processes asynchronously after its init is killed:
    # poll with a deadline instead of sampling once.
    deadline = time.monotonic() + LEAK_GRACE
    while True:
        after = _host_state()
        leaked = {k: sorted(after[k] - before[k]) for k in after if after[k] - before[k]}
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not leaked, f"the test left these behind: {leaked}"
