"""The leak check of conftest.py: it sees what a test's own labs leave, and only that."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import NEEDS_USERNS, _host_state
from test_netns_support import (  # noqa: F401  (fixtures)
    lab_name,
    provider,
    spec,
    subreaper,
)

from sphinxext.labbook.providers.labstate import STATE_DIR_ENV

REPO = Path(__file__).parent.parent
pytestmark = NEEDS_USERNS


def _grown(before: dict[str, set[str]]) -> dict[str, set[str]]:
    after = _host_state()
    return {k: after[k] - before[k] for k in after if after[k] - before[k]}


def test_a_lab_of_the_test_counts_until_it_is_down(provider, lab_name) -> None:  # noqa: F811
    before = _host_state()
    with provider.up(spec("pair"), lab_name):
        grown = _grown(before)
        assert lab_name in grown["state"]
        titles = " ".join(grown["processes"])
        assert f"labbook-init {lab_name} " in titles and f"labbook-node {lab_name}/alpha" in titles


def test_a_lab_under_another_state_root_is_not_the_tests(tmp_path, lab_name) -> None:  # noqa: F811
    env = {**os.environ, STATE_DIR_ENV: str(tmp_path / "other")}

    def labbook(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sphinxext.labbook", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    before = _host_state()
    up = labbook("up", "tests/labs/pair.yaml", "--name", lab_name)
    try:
        assert up.returncode == 0, up.stderr
        assert _grown(before) == {}
    finally:
        assert labbook("down", lab_name).returncode == 0
