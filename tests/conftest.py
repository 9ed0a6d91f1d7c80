"""Shared fixtures: Sphinx's testing fixtures, database servers (dbservers.py) and a check
that no test leaves anything behind."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from sphinxext.labbook.providers.labstate import STATE_DIR_ENV, state_root

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


#: Labs live in user namespaces, as root and as an ordinary user: their tests carry the
#: ``netns`` marker and skip only where the kernel refuses those (and say which setting).
USERNS_REFUSED = _userns_refused()
NEEDS_USERNS = pytest.mark.netns

#: Markers given by what a test uses (``pytest -m "not db"`` leaves out the database
#: servers): a fixture named here marks every test that asks for it.
MARK_BY_FIXTURE = {
    "app": "sphinx",
    "make_app": "sphinx",
    "postgresql_server": "db",
    "mariadb_server": "db",
    # test_schema_drift.py's, which ask for the servers above by name at run time
    "server": "db",
    "database": "db",
    "postgresql_database": "db",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            if fixture in MARK_BY_FIXTURE:
                item.add_marker(MARK_BY_FIXTURE[fixture])


def pytest_runtest_setup(item: pytest.Item) -> None:
    if USERNS_REFUSED and item.get_closest_marker("netns"):
        pytest.skip(USERNS_REFUSED)


def warnings_of(app) -> str:
    """A Sphinx test app's warnings without colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", app.warning.getvalue())


@pytest.fixture(scope="session")
def rootdir() -> Path:
    return ROOTS


def pytest_configure(config: pytest.Config) -> None:
    """Give this test run a state root of its own: its labs are the only ones it sees,
    and the leak check below looks only at them, so two test runs on one machine (or a
    lab of the machine's own) do not fail each other's tests."""
    if not os.environ.get(STATE_DIR_ENV):
        os.environ[STATE_DIR_ENV] = tempfile.mkdtemp(prefix="labbook-tests-")
        config.stash[_OWN_ROOT] = os.environ[STATE_DIR_ENV]


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_OWN_ROOT, None)
    if root is None:
        return
    os.environ.pop(STATE_DIR_ENV, None)
    try:
        os.rmdir(root)  # empty unless a lab was left: the leak check has said which
    except FileNotFoundError:
        pass
    except OSError:
        print(f"\nlabs were left under {root}; `LABBOOK_STATE_DIR={root} labbook gc --all`")


_OWN_ROOT = pytest.StashKey[str]()


def _host_state() -> dict[str, set[str]]:
    """What a lab of this test run could leak on the host: namespaces, interfaces, mounts,
    and its own state files and processes (those of the state root this run set, so labs
    of anybody else on the machine do not count)."""
    root = state_root()
    state: dict[str, set[str]] = {}
    netns = Path("/run/netns")
    state["netns"] = set(os.listdir(netns)) if netns.is_dir() else set()
    state["links"] = set(os.listdir("/sys/class/net"))
    with open("/proc/self/mountinfo") as f:
        state["mounts"] = {line.split()[4] for line in f if "labbook" in line}
    labstate = Path(root)
    state["state"] = (
        {str(p.relative_to(labstate)) for p in labstate.rglob("*")} if labstate.is_dir() else set()
    )
    state["processes"] = _lab_processes(root)
    return state


def _lab_processes(root: str) -> set[str]:
    """Processes of the labs under ``root``: nodes, holders and VMs name it in their
    command line; the fake provider's, which run on the host, in their environment."""
    found = set()
    ours = f"{STATE_DIR_ENV}={root}\0".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue  # a zombie is already dead (it holds a pid until reaped)
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            if re.search(r"labbook-(node|init|holder)|qemu-system", args) and root in args:
                found.add(f"{entry} {args}")
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read() + b"\0"
            if b"LABBOOK_FAKE_LAB=" in env and ours in env:
                found.add(f"{entry} (a fake lab's process)")
        except (OSError, IndexError):
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
