"""``labbook up/exec/ls/down`` as a user runs them: separate processes and in-process main()."""

from __future__ import annotations

import json
import os

import pytest
from conftest import NEEDS_USERNS
from test_netns_support import REPO, lab_name, labbook, subreaper  # noqa: F401  (fixtures)

from sphinxext.labbook import cli
from sphinxext.labbook.providers.netns import state

pytestmark = [NEEDS_USERNS]


def test_up_exec_ls_down_in_separate_processes(lab_name) -> None:  # noqa: F811
    up = labbook("up", "tests/labs/pair.yaml", "--name", lab_name)
    assert (up.returncode, up.stdout, up.stderr) == (0, f"{lab_name}\n", "")
    try:
        ping = labbook("exec", lab_name, "alpha", "--", "ping", "-c1", "-W1", "10.0.0.2")
        assert ping.returncode == 0, ping.stderr
        assert "1 received" in ping.stdout
        ls = labbook("ls")
        assert ls.returncode == 0
        header, *rows = ls.stdout.splitlines()
        assert header.split() == ["NAME", "PROVIDER", "NODES", "AGE", "SPEC"]
        mine = next(r.split() for r in rows if r.split()[0] == lab_name)
        assert mine[1:3] == ["netns", "2"] and mine[4] == "tests/labs/pair.yaml"
        listed = {i["name"]: i for i in json.loads(labbook("ls", "--json").stdout)}
        assert listed[lab_name]["nodes"] == ["alpha", "beta"]
        assert listed[lab_name]["owner_pid"] is None  # detached: outlives 'labbook up'
    finally:
        down = labbook("down", lab_name)
    assert (down.returncode, down.stderr) == (0, "")
    assert state.read(lab_name) is None
    assert labbook("down", lab_name).returncode == 2


def test_exec_passes_exit_code_and_streams_through(lab_name) -> None:  # noqa: F811
    assert labbook("up", "tests/labs/pair.yaml", "--name", lab_name).returncode == 0
    try:
        r = labbook("exec", lab_name, "beta", "--", "sh", "-c", "echo out; echo oops >&2; exit 7")
        assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "oops\n")
        r = labbook("exec", lab_name, "beta", "--", "sh", "-c", "kill -TERM $$")
        assert r.returncode == 128 + 15
        r = labbook("exec", lab_name, "beta", "--", "no-such-command")
        assert r.returncode == 127 and "no-such-command" in r.stderr
        r = labbook("exec", lab_name, "beta", "--", "cat", input="piped\n")
        assert r.stdout == "piped\n"
        r = labbook("exec", lab_name, "gamma", "--", "true")
        assert r.returncode == 2
        assert (
            r.stderr == f"labbook: lab '{lab_name}' has no node 'gamma'; its nodes: alpha, beta\n"
        )
    finally:
        labbook("down", lab_name)


def test_unknown_lab_is_bad_input(lab_name) -> None:  # noqa: F811
    r = labbook("exec", lab_name, "alpha", "--", "true")
    assert r.returncode == 2
    assert f"no running lab named '{lab_name}'" in r.stderr and "Traceback" not in r.stderr


def test_bad_spec_lists_every_error_and_creates_nothing(tmp_path, lab_name) -> None:  # noqa: F811
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nnetworks:\n  lan: {cidr: 10.0.0.0/33}\nnodes:\n"
        "  a: {interfaces: {eth0: {network: lna}}}\n  b: {hostnme: x}\n"
    )
    r = labbook("up", str(bad), "--name", lab_name)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{bad}:3:15",
        f"{bad}:5:36",
        f"{bad}:6:7",
    ]
    assert "did you mean 'lan'?" in lines[1] and "did you mean 'hostname'?" in lines[2]
    assert state.read(lab_name) is None and lab_name not in state.scan()


def test_a_running_name_is_refused(lab_name) -> None:  # noqa: F811
    assert labbook("up", "tests/labs/pair.yaml", "--name", lab_name).returncode == 0
    try:
        again = labbook("up", "tests/labs/pair.yaml", "--name", lab_name)
        assert again.returncode == 2
        assert f"a lab named '{lab_name}' is already running" in again.stderr
    finally:
        labbook("down", lab_name)


def test_in_process_main(lab_name, capfd) -> None:  # noqa: F811
    assert cli.main(["up", "tests/labs/pair.yaml", "--name", lab_name]) == 0
    try:
        assert capfd.readouterr().out == f"{lab_name}\n"
        # exec forks from this very process: it must come back with its namespaces intact
        before = _namespaces()
        rc = cli.main(["exec", lab_name, "alpha", "--", "sh", "-c", "hostname; exit 4"])
        assert rc == 4
        assert capfd.readouterr().out == "alpha.lab\n"
        assert _namespaces() == before
        assert cli.main(["exec", lab_name, "alpha"]) == 2
        assert "no command given" in capfd.readouterr().err
    finally:
        assert cli.main(["down", lab_name]) == 0
    assert state.read(lab_name) is None


def _namespaces() -> dict[str, str]:
    return {
        ns: os.readlink(f"/proc/self/ns/{ns}")
        for ns in ("net", "mnt", "uts", "ipc", "pid", "pid_for_children")
    }


@pytest.mark.parametrize("command", ["up", "exec", "down", "ls", "gc"])
def test_every_command_explains_itself(command) -> None:
    r = labbook(command, "--help")
    assert r.returncode == 0
    assert f"usage: labbook {command}" in r.stdout
    assert len(r.stdout.splitlines()) > 5


def test_up_passes_provider_options_and_rejects_malformed_ones(capsys) -> None:
    from sphinxext.labbook.cli import main

    spec_path = str(REPO / "tests" / "labs" / "pair.yaml")
    assert main(["up", spec_path, "--provider", "ssh", "--inventory", "/nonexistent.yaml"]) == 2
    assert "/nonexistent.yaml" in capsys.readouterr().err
    assert main(["up", spec_path, "-o", "novalue"]) == 2
    assert "write KEY=VALUE" in capsys.readouterr().err
