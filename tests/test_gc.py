"""Teardown when runs end badly (SIGTERM, SIGKILL) and ``labbook gc`` for what is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import NEEDS_USERNS
from test_netns_support import (  # noqa: F401  (fixtures)
    REPO,
    lab_name,
    labbook,
    provider,
    spec,
    subreaper,
)

from sphinxext.labbook.errors import UsageError
from sphinxext.labbook.providers.netns import NetnsProvider, state

pytestmark = [NEEDS_USERNS]

#: Brings a lab up through the Python API inside ``with``, says so, and sleeps.
SCRIPT = textwrap.dedent("""\
    import sys, time
    from sphinxext.labbook.providers.netns import NetnsProvider
    from sphinxext.labbook.runner.signals import sigterm_raises
    from sphinxext.labbook.spec import load_spec

    with sigterm_raises(), NetnsProvider().up(load_spec(sys.argv[1]), sys.argv[2]) as lab:
        lab.session("alpha").run("sleep 1000 &")
        print("up", flush=True)
        for _ in range(6000):  # short sleeps: a signal that comes just before a
            time.sleep(0.05)  # long one would wait for it to end (Python checks between)
    """)


def _run_script(name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "tests/labs/pair.yaml", name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "up\n", proc.stderr.read() if proc.stderr else line
    return proc


def _nothing_left(name: str) -> None:
    assert state.read(name) is None
    assert not os.path.exists(state.lab_dir(name))
    assert name not in state.scan()


def test_a_failing_command_inside_with_still_tears_down(provider, lab_name) -> None:  # noqa: F811
    with pytest.raises(RuntimeError), provider.up(spec("pair"), lab_name) as lab:
        lab.session("beta").run("sleep 1000 &")
        result = lab.exec("alpha", ["sh", "-c", "exit 5"])
        raise RuntimeError(f"step failed with {result.rc}")
    _nothing_left(lab_name)


def test_sigterm_tears_the_lab_down(lab_name) -> None:  # noqa: F811
    proc = _run_script(lab_name)
    holders = state.scan()[lab_name]
    assert len(holders["init"]) == 1 and len(holders["node"]) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    _nothing_left(lab_name)


def test_sigkill_then_gc_removes_everything(lab_name) -> None:  # noqa: F811
    proc = _run_script(lab_name)
    st = state.read(lab_name)
    assert st is not None and st.owner is not None and st.owner[0] == proc.pid
    sleepers = NetnsProvider().attach(lab_name).processes("alpha")
    proc.kill()
    proc.wait(timeout=30)
    # the lab outlives its killed owner until gc finds it
    assert state.alive(st.init)
    r = labbook("gc")
    assert r.returncode == 0, r.stderr
    assert (
        f"netns: removed netns lab '{lab_name}' (its owner process {proc.pid} is gone)" in r.stdout
    )
    _nothing_left(lab_name)
    assert not any(os.path.exists(f"/proc/{p}") for p in sleepers)
    assert f"'{lab_name}'" not in labbook("gc").stdout  # nothing left to remove


def test_gc_keeps_labs_brought_up_by_hand_unless_all(lab_name) -> None:  # noqa: F811
    assert labbook("up", "tests/labs/pair.yaml", "--name", lab_name).returncode == 0
    assert f"'{lab_name}'" not in labbook("gc").stdout
    assert state.read(lab_name) is not None
    r = labbook("gc", "--all", lab_name)  # (only this test's lab: others may be running)
    assert f"removed netns lab '{lab_name}' (--all)" in r.stdout
    _nothing_left(lab_name)


def test_gc_removes_processes_without_state(provider, lab_name) -> None:  # noqa: F811
    lab = provider.up(spec("pair"), lab_name)
    try:
        state.remove(lab_name)  # as if someone deleted /run/labbook/<lab>
        lines = provider.gc(names=[lab_name])
        assert f"removed 3 processes of netns lab '{lab_name}', which has no state" in lines
        _nothing_left(lab_name)
    finally:
        lab.down()


def test_gc_removes_a_half_created_lab(lab_name) -> None:  # noqa: F811
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert state.claim(lab_name)
    state.write(
        state.LabState(
            name=lab_name,
            spec_path="x.yaml",
            spec_digest="",
            created=time.time(),
            owner=(gone.pid, 1),
        )
    )
    lines = NetnsProvider().gc(names=[lab_name])
    assert (
        f"removed netns lab '{lab_name}' (it was half-created by a process that is gone): "
        f"0 processes, {state.lab_dir(lab_name)}" in lines
    )
    _nothing_left(lab_name)


def test_gc_leaves_other_providers_labs_alone(lab_name) -> None:  # noqa: F811
    assert state.claim(lab_name)
    with open(os.path.join(state.lab_dir(lab_name), "state.json"), "w") as f:
        f.write(f'{{"provider": "elsewhere", "name": "{lab_name}"}}')
    try:
        assert NetnsProvider().gc(everything=True, names=[lab_name]) == []
        assert os.path.exists(os.path.join(state.lab_dir(lab_name), "state.json"))
        with pytest.raises(UsageError, match=r"already running \(provider elsewhere\)"):
            NetnsProvider().up(spec("pair"), lab_name)
    finally:
        state.remove(lab_name)


def test_gc_removes_temporary_trees_of_killed_processes_only(tmp_path) -> None:
    """A process killed while it unpacks a VM node's packages leaves its half-made tree
    in the cache; gc removes it, and keeps the one of a process still running."""
    from sphinxext.labbook.providers.procs import temp_prefix

    cache = tmp_path / "vm-cache"
    (cache / "packages").mkdir(parents=True)
    code = (
        "import sys, tempfile, time\n"
        "from sphinxext.labbook.providers.procs import temp_prefix\n"
        "d = tempfile.mkdtemp(dir=sys.argv[1], prefix=temp_prefix('packages', hidden=True))\n"
        "open(d + '/half.deb', 'w').close()\n"
        "print(d, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(cache / "packages")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    killed = proc.stdout.readline().strip()
    proc.kill()
    proc.wait()
    ours = cache / "packages" / f"{temp_prefix('packages', hidden=True)}keep"
    ours.mkdir()
    finished = cache / "packages" / "0123456789abcdef"  # a tree that was made whole
    finished.mkdir()
    r = labbook("gc", env={**os.environ, "LABBOOK_VM_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(killed)
    assert f"packages: removed {killed} (left by unpacking a VM node's packages, " in r.stdout
    assert f"process {proc.pid}, which is gone)" in r.stdout
    assert ours.is_dir() and finished.is_dir()


def test_gc_removes_kept_outputs_of_labs_ended_a_week_ago(tmp_path) -> None:
    output = tmp_path / "cache" / "labbook" / "output"
    old, recent = output / "pair-0badf00d", output / "pair-1234abcd"
    for d in (old, recent):
        d.mkdir(parents=True)
        (d / "alpha-1.out").write_text("a long output\n")
    week = time.time() - 8 * 86400
    os.utime(old, (week, week))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = labbook("gc", env=env)
    assert r.returncode == 0, r.stderr
    assert f"output: removed {old} (kept output of an ended lab, 8 days old)" in r.stdout
    assert not old.exists() and recent.is_dir()
    assert labbook("gc", "--all", env=env).returncode == 0
    assert not recent.exists()
