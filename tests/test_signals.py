"""Signals at the worst moments: during teardown, to sphinx-build, to a `labbook check`
that is then killed. Labs are always torn down, or left for `labbook gc` to remove."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from conftest import NEEDS_USERNS
from test_netns_support import REPO, lab_name, labbook  # noqa: F401  (fixtures)

from sphinxext.labbook.providers.netns import state

pytestmark = [NEEDS_USERNS]

#: Brings a lab up; its teardown says when it starts and takes a second before the real
#: one, so that signals can be sent while it runs.
SLOW_TEARDOWN = textwrap.dedent("""\
    import sys, time
    from sphinxext.labbook.providers.netns import NetnsProvider
    from sphinxext.labbook.runner.signals import sigterm_raises
    from sphinxext.labbook.spec import load_spec

    lab = NetnsProvider().up(load_spec(sys.argv[1]), sys.argv[2])
    down = lab.down
    def slow_down():
        print("tearing down", flush=True)
        time.sleep(1.5)
        down()
    lab.down = slow_down
    try:
        with sigterm_raises(), lab:
            lab.session("alpha").run("sleep 1000 &")
            print("up", flush=True)
            for _ in range(6000):
                time.sleep(0.05)
    except KeyboardInterrupt:
        sys.exit(130)
    """)


def _start(name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_TEARDOWN, "tests/labs/pair.yaml", name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "up\n", proc.communicate()
    return proc


def _interrupt_during_teardown(proc: subprocess.Popen[str], extra: int) -> tuple[int, str]:
    assert proc.stdout is not None and proc.stderr is not None
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline() == "tearing down\n"
    for _ in range(extra):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _gone(name: str) -> bool:
    return state.read(name) is None and not os.path.exists(state.lab_dir(name))


def test_a_second_ctrl_c_during_teardown_waits_for_it(lab_name: str) -> None:  # noqa: F811
    proc = _start(lab_name)
    rc, err = _interrupt_during_teardown(proc, 1)
    assert rc == 130, err
    assert "still tearing down, please wait" in err
    assert "Traceback" not in err
    assert _gone(lab_name) and lab_name not in state.scan()


def test_a_third_ctrl_c_forces_and_gc_removes_the_rest(lab_name: str) -> None:  # noqa: F811
    proc = _start(lab_name)
    rc, err = _interrupt_during_teardown(proc, 2)
    assert rc == 130, err
    assert err.count("still tearing down") == 1
    assert not _gone(lab_name)  # stopped halfway, as asked
    r = labbook("gc")
    assert r.returncode == 0, r.stderr
    assert _gone(lab_name) and lab_name not in state.scan()


def _labs_of(spec_name: str) -> list[str]:
    return [n for n in state.scan() if n.startswith(spec_name)]


def _wait_for_lab(proc: subprocess.Popen[str], spec_name: str) -> list[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        names = [n for n in _labs_of(spec_name) if (st := state.read(n)) and st.status == "up"]
        if names:
            time.sleep(0.5)  # into the step
            return names
        time.sleep(0.05)
    pytest.fail(f"no lab came up: {proc.communicate()}")


def _build_sleeping(tmp_path: Path, lab: str, *argv: str) -> subprocess.Popen[str]:
    """``python ARGV`` (its "SRC" the directory) on a copy of the test-lab-sleep root whose
    lab is named ``lab``."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "tests" / "roots" / "test-lab-sleep", src)
    (src / "pair.yaml").write_text((src / "pair.yaml").read_text().replace("pair", lab, 1))
    return subprocess.Popen(
        [sys.executable, *(str(src) if a == "SRC" else a for a in argv)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_ends_sphinx_build_as_sigterm_after_teardown(tmp_path: Path) -> None:
    before = set(_labs_of("sigpair"))
    out = str(tmp_path / "out")
    proc = _build_sleeping(tmp_path, "sigpair", "-m", "sphinx", "-q", "-b", "html", "SRC", out)
    names = set(_wait_for_lab(proc, "sigpair")) - before
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, (out, err)  # a shell says 143
    assert "Traceback" not in err and "Extension error" not in err, err
    assert names and not any(state.read(n) for n in names)


def test_gc_removes_the_build_directory_of_a_killed_check(tmp_path: Path) -> None:
    before = set(_labs_of("killpair"))
    proc = _build_sleeping(tmp_path, "killpair", "-m", "sphinxext.labbook", "check", "SRC")
    _wait_for_lab(proc, "killpair")
    pattern = os.path.join(tempfile.gettempdir(), f"labbook-check-{proc.pid}-*")
    assert glob.glob(pattern)
    proc.kill()
    proc.communicate(timeout=30)
    r = labbook("gc")
    assert r.returncode == 0, r.stderr
    assert not glob.glob(pattern)
    assert f"check: removed {tempfile.gettempdir()}/labbook-check-{proc.pid}-" in r.stdout
    assert set(_labs_of("killpair")) <= before  # the lab of the killed run is gone too
