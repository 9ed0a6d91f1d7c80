"""Labs in user namespaces, as root and as an ordinary user, against the real kernel.

These run in both cases: CI runs the whole suite as root and again as an ordinary user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NEEDS_USERNS
from test_netns_support import (  # noqa: F401  (fixtures)
    REPO,
    lab_name,
    provider,
    sh,
    spec,
    subreaper,
)

from sphinxext.labbook.providers import userns
from sphinxext.labbook.providers.labstate import STATE_DIR_ENV
from sphinxext.labbook.providers.netns import NetnsProvider, state

pytestmark = [NEEDS_USERNS]

#: Drops every capability, as root of an unprivileged container has none (a no-op for an
#: ordinary user, who has none to drop).
NO_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]


@pytest.fixture
def pair(provider: NetnsProvider, lab_name: str):  # noqa: F811
    with provider.up(spec("pair"), lab_name) as lab:
        yield lab


def _labbook(
    *args: str, env: dict[str, str], prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "sphinxext.labbook", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=_with(env),
    )


def _with(env: dict[str, str]) -> dict[str, str]:
    """The test run's environment with ``env``; one that names XDG_RUNTIME_DIR asks for
    the default state root under it, so the run's own LABBOOK_STATE_DIR goes."""
    base = dict(os.environ)
    if "XDG_RUNTIME_DIR" in env:
        base.pop(STATE_DIR_ENV, None)
    return {**base, **env}


def test_a_node_runs_in_a_user_namespace_of_its_lab(pair) -> None:
    init = pair.init_pid("alpha")
    assert os.readlink(f"/proc/{init}/ns/user") != os.readlink("/proc/self/ns/user")
    assert sh(pair, "alpha", "id -u; hostname") == (0, "0\nalpha.lab\n")
    # the node's root maps to this process's user (as root: to root)
    assert os.stat(f"/proc/{init}").st_uid == os.geteuid()


def test_root_of_a_node_cannot_undo_its_view_of_the_host(pair) -> None:
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    hidden = state.state_root()
    attempts = {
        "WROTE-HOST": "mount -o remount,bind,rw /; touch /usr/local/lbx-$$",
        "WROTE-SYSCTL": "umount /proc/sys; echo lbcore > /proc/sys/kernel/core_pattern",
        "SYS-RW": "mount -o remount,rw /sys",
        "SAW-STATE": f"umount {hidden}; ls -A {hidden} | grep -q .",
        "READ-KMSG": "head -c1 /dev/kmsg >/dev/null",
        "HOST-DEVICES": "ls /dev | grep -E '^(sd|vd|nvme|mem|kmem|port)'",
    }
    script = (
        "".join(f"( {cmd} ) >/dev/null 2>&1 && echo {what}\n" for what, cmd in attempts.items())
        + "echo checked"
    )
    _rc, out = sh(pair, "alpha", script)
    done = out.strip().splitlines()
    if not userns.privileged():
        # an ordinary user's node is that user: the user's own lab state is no secret to
        # it (root's nodes are locked out of it: the kernel refuses the umount)
        done = [line for line in done if line != "SAW-STATE"]
    assert done == ["checked"]
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before
    assert not any(p.name.startswith("lbx-") for p in Path("/usr/local").iterdir())


def test_files_the_host_owns_can_be_changed_in_a_node_and_stay_unchanged_on_the_host(pair) -> None:
    hosts = Path("/etc/hosts").read_text()
    script = """
        echo '10.9.9.9 extra' >> /etc/hosts && grep -c extra /etc/hosts
        mkdir -p /var/lib/lbtest && echo made > /var/lib/lbtest/f && cat /var/lib/lbtest/f
        mkdir -p /run/lbtest && echo run-ok
        echo x > /root/.lbtest && echo root-ok
    """
    assert sh(pair, "alpha", script) == (0, "1\nmade\nrun-ok\nroot-ok\n")
    assert Path("/etc/hosts").read_text() == hosts
    assert not Path("/var/lib/lbtest").exists() and not Path("/run/lbtest").exists()
    # and the other node did not see it
    assert sh(pair, "beta", "grep -c extra /etc/hosts")[1] == "0\n"


def test_daemons_may_switch_to_their_own_users_where_the_lab_maps_them(pair) -> None:
    rc, out = sh(pair, "alpha", "setpriv --reuid=65534 --regid=65534 --clear-groups id -u")
    if userns.plan().ids > 65534:
        assert (rc, out) == (0, "65534\n")
    else:  # an ordinary user without a subordinate range: the kernel says no, in one line
        assert rc != 0 and "Traceback" not in out
        assert userns.limits()  # and labbook says why up front


def test_without_capabilities_root_is_told_so_and_a_user_gets_a_lab(tmp_path, lab_name) -> None:  # noqa: F811
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux, in bindep.txt) is missing")
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    up = _labbook("up", "tests/labs/pair.yaml", "--name", lab_name, env=env, prefix=NO_CAPS)
    if os.geteuid() == 0:
        # root of a container without capabilities: the kernel lets it map no ids
        assert up.returncode == 3 and up.stdout == ""
        assert up.stderr.startswith("labbook: labbook runs as root without the capabilities")
        assert len(up.stderr.splitlines()) == 1
        assert not (tmp_path / "labbook" / lab_name).exists()
        return
    try:
        assert (up.returncode, up.stdout, up.stderr) == (0, f"{lab_name}\n", "")
        ran = _labbook("exec", lab_name, "alpha", "--", "id", "-u", env=env)
        assert (ran.returncode, ran.stdout) == (0, "0\n")
        labs = json.loads(_labbook("ls", "--json", env=env).stdout)
        assert [lab["name"] for lab in labs] == [lab_name]
        assert (tmp_path / "labbook" / lab_name / "state.json").is_file()
        assert oct(os.stat(tmp_path / "labbook").st_mode & 0o777) == "0o700"
    finally:
        down = _labbook("down", lab_name, env=env)
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "labbook" / lab_name).exists()


def test_each_user_sees_only_their_own_labs(pair, tmp_path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    # another user's view (root of a container counts as one): no labs, not this one
    other = _labbook("ls", "--json", env=env, prefix=NO_CAPS)
    mine = _labbook("ls", "--json", env={})
    if userns.privileged():
        assert json.loads(other.stdout) == []
        assert _labbook("down", pair.name, env=env, prefix=NO_CAPS).returncode == 2
        assert _labbook("gc", "--all", env=env, prefix=NO_CAPS).returncode == 0
    assert pair.name in [lab["name"] for lab in json.loads(mine.stdout)]
    assert sh(pair, "alpha", "true") == (0, "")  # still up


def test_a_kernel_that_refuses_user_namespaces_is_one_line_and_exit_3(tmp_path) -> None:
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.fail("unshare and setpriv (util-linux, in bindep.txt) are missing")
    # A namespace of our own whose limit of user namespaces is 0, as a kernel configured
    # with user.max_user_namespaces=0 has; labbook runs in it without capabilities.
    argv = [
        "unshare",
        "-Ur",
        "sh",
        "-c",
        'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"',
        "sh",
        *NO_CAPS,
        sys.executable,
        "-m",
        "sphinxext.labbook",
        "up",
        "tests/labs/pair.yaml",
        "--name",
        "refused",
    ]
    r = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=_with({"XDG_RUNTIME_DIR": str(tmp_path)}),
    )
    assert r.returncode == 3, r.stderr
    assert r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "user.max_user_namespaces is 0" in lines[0] and "run labbook as root" in lines[0]
    assert not (tmp_path / "labbook" / "refused").exists()


def test_a_nodes_working_directory_is_its_own(pair) -> None:
    probe = f"lb-relative-{os.getpid()}"
    assert pair.session("alpha").run(f"pwd; touch {probe}").stdout == "/root\n"
    assert pair.exec("alpha", ["pwd"]).stdout == "/root\n"
    assert pair.get("alpha", f"/root/{probe}") == b""
    # a relative path in a step never reaches the host's own /root
    assert not os.path.lexists(f"/root/{probe}")


def test_labbook_exec_runs_in_the_nodes_user_namespace(pair) -> None:
    init = pair.init_pid("alpha")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinxext.labbook",
            "exec",
            pair.name,
            "alpha",
            "--",
            "readlink",
            "/proc/self/ns/user",
            "/proc/self/ns/mnt",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [
        os.readlink(f"/proc/{init}/ns/user"),
        os.readlink(f"/proc/{init}/ns/mnt"),
    ]


def test_a_node_may_run_commands_in_namespaces_of_its_own(pair) -> None:
    # `ip netns exec` mounts a fresh sysfs: the kernel allows that only while the node's
    # /sys has nothing mounted below it (CNI and CNM runtimes do exactly this)
    script = "ip netns add inner && ip netns exec inner ip -br link && ip netns delete inner"
    rc, out = sh(pair, "alpha", script)
    assert (rc, out.split()[:2]) == (0, ["lo", "DOWN"])


def test_a_state_root_of_its_own_is_a_world_of_its_own(tmp_path, lab_name) -> None:  # noqa: F811
    own = tmp_path / "state"
    env = {STATE_DIR_ENV: str(own)}
    up = _labbook("up", "tests/labs/pair.yaml", "--name", lab_name, env=env)
    try:
        assert (up.returncode, up.stderr) == (0, ""), up.stderr
        assert (own / lab_name / "state.json").is_file()
        assert oct(own.stat().st_mode & 0o777) == "0o700"
        # the run's own root does not hold it; the lab's root does, and gc there keeps it
        elsewhere = json.loads(_labbook("ls", "--json", env={}).stdout)
        assert lab_name not in [lab["name"] for lab in elsewhere]
        assert _labbook("gc", env=env).returncode == 0
        ran = _labbook("exec", lab_name, "alpha", "--", "hostname", env=env)
        assert (ran.returncode, ran.stdout) == (0, "alpha.lab\n")
    finally:
        down = _labbook("down", lab_name, env=env)
    assert down.returncode == 0, down.stderr
    assert not (own / lab_name).exists()


@pytest.mark.parametrize("value", ["relative/dir", "/tmp/with space"])
def test_a_state_root_that_is_no_absolute_path_is_one_line_and_exit_2(value) -> None:
    r = _labbook("ls", env={STATE_DIR_ENV: value})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "write an absolute path" in r.stderr
    assert "Traceback" not in r.stderr
