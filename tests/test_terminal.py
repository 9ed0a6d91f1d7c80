"""On a terminal: labbook's progress lines stand on lines of their own, also where Sphinx
redraws its "reading sources... [ 50%]" line in place."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOTS

REPO = Path(__file__).parent.parent


def on_a_terminal(argv: list[str], cwd: Path) -> str:
    """Run ``argv`` with a pseudo-terminal for its output; everything it wrote."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "NO_COLOUR", "CI")}
    env.update(TERM="xterm", PYTHONPATH=str(REPO), COLUMNS="200")
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=cwd, env=env
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait(timeout=120)
    return b"".join(chunks).decode("utf-8", "replace")


def test_labbook_check_shows_its_progress_on_a_terminal(tmp_path: Path):
    root = tmp_path / "controls"
    shutil.copytree(ROOTS / "test-lab-controls", root)
    out = on_a_terminal([sys.executable, "-m", "sphinxext.labbook", "check", str(root)], tmp_path)
    lines = out.replace("\r\n", "\n").split("\n")
    assert "index: bringing up pair.yaml (fake, 1 step)" in lines, out
    assert "index: lab pair.yaml (fake) drift: drift 1 in" in out


def test_sphinx_build_progress_line_is_not_written_into_the_status_line(tmp_path: Path):
    root = tmp_path / "controls"
    shutil.copytree(ROOTS / "test-lab-controls", root)
    argv = [sys.executable, "-m", "sphinx", "-b", "html", str(root), str(tmp_path / "out")]
    out = on_a_terminal(argv, tmp_path)
    assert "bringing up pair.yaml" in out, out
    # Sphinx ends its status line with \r on a terminal; ours starts after a newline
    before = out[: out.index("labbook: index: bringing up")]
    assert before.endswith("\n"), repr(before[-80:])
