"""ssh provider against real sshd servers, one in each node of a netns lab (real kernel).

The nodes live in the lab's namespaces, so the inventory reaches them the way users
reach lab VMs through a bastion: a proxy command that connects from inside each
node's network namespace (see providers/ssh/sshd.py). No traffic leaves them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import NEEDS_USERNS, ROOTS

from sphinxext.labbook.cli import main
from sphinxext.labbook.providers import get_provider
from sphinxext.labbook.providers.ssh import state
from sphinxext.labbook.providers.ssh.sshd import Served, serve
from sphinxext.labbook.spec import load_spec

MISSING = [
    tool
    for tool in ("sshd", "ssh", "socat", "nsenter")
    if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None
]

pytestmark = [
    NEEDS_USERNS,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"needs {', '.join(MISSING)} "
        "(bindep: openssh-server, openssh-client, socat, util-linux)",
    ),
]

PAIR = ROOTS / "test-lab-pass" / "pair.yaml"
#: Lab names of this run: test runs on one machine must not take each other's labs.
RUN = secrets.token_hex(3)


@pytest.fixture(scope="module")
def sshd_lab(tmp_path_factory):
    """A netns lab of the pair spec whose nodes alpha and beta each run an sshd."""
    lab = get_provider("netns").up(load_spec(PAIR), f"sshd-{int(time.time()) % 100000}")
    try:
        served = serve(lab, str(tmp_path_factory.mktemp("sshd")))
        yield lab, served
    finally:
        lab.down()


@pytest.fixture
def nodes(sshd_lab):
    return sshd_lab[0]


@pytest.fixture
def served(sshd_lab) -> Served:
    return sshd_lab[1]


def copy_root(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(ROOTS / f"test-{name}", dest)
    return dest


def check(tmp_path: Path, root: str, inventory: str) -> int:
    return main(
        ["check", str(copy_root(tmp_path, root)), "--provider", "ssh", "--inventory", inventory]
    )


def gone(nodes, node: str, pattern: str, within: float = 10.0) -> bool:
    """Poll the node (through the netns lab, not ssh) until nothing matches ``pattern``."""
    deadline = time.monotonic() + within
    while nodes.exec(node, ["pgrep", "-f", pattern]).rc == 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def inventory_with(served: Served, tmp_path: Path, **changes: dict) -> str:
    data = yaml.safe_load(Path(served.inventory).read_text())
    for node, entry in changes.items():
        data["nodes"][node].update(entry)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


# -- the verified-steps documents, unchanged, over ssh ------------------------------------------
def test_passing_document_passes_over_ssh(tmp_path, capsys, served):
    assert check(tmp_path, "lab-pass", served.inventory) == 0
    out = capsys.readouterr().out
    assert "index: lab pair.yaml (ssh) passed: passed 6" in out


def test_drift_is_drift_over_ssh(tmp_path, capsys, served):
    assert check(tmp_path, "lab-drift", served.inventory) == 1
    assert "+the lab says this" in capsys.readouterr().err


def test_files_are_applied_and_rechecked_over_ssh(tmp_path, capsys, served):
    assert check(tmp_path, "lab-files", served.inventory) == 1  # one drift by design
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and "/etc/demo.conf on beta was changed" in err


def test_background_daemon_runs_until_down_then_is_killed(tmp_path, served, nodes):
    assert check(tmp_path, "lab-background", served.inventory) == 0
    assert gone(nodes, "alpha", "http.server 8000")


def test_timed_out_step_is_killed_on_the_node(tmp_path, capsys, served, nodes):
    assert check(tmp_path, "lab-timeout", served.inventory) == 1
    err = capsys.readouterr().err
    assert "timed out after 1 s" in err and "started" in err
    assert gone(nodes, "alpha", "sleep 30") and gone(nodes, "alpha", "sleep 20")


# -- the provider itself ------------------------------------------------------------------------
@pytest.fixture
def up(served):
    """``up(kind)``: an ssh lab of the pair spec, named for this run (test runs may overlap)."""
    provider = get_provider("ssh", inventory=served.inventory)
    return lambda kind: provider.up(load_spec(PAIR), f"ssh-{kind}-{RUN}")


def test_session_timeout_kills_the_remote_command(up, nodes):
    with up("sess") as lab:
        res = lab.session("alpha").run("echo before; sleep 1000", timeout=1)
        assert res.timed_out and res.stdout == "before\n"
        assert gone(nodes, "alpha", "sleep 1000")
        assert lab.session("alpha").run("hostname").stdout == "alpha\n"  # a fresh shell


def test_exec_timeout_kills_the_remote_process_group(up, nodes):
    with up("exec") as lab:
        res = lab.exec("beta", ["sh", "-c", "echo partial; sleep 1001 & sleep 1002"], timeout=1)
        assert res.timed_out and res.rc == 124 and res.stdout == "partial\n"
        assert gone(nodes, "beta", "sleep 100[12]")


def test_exec_put_get(up):
    with up("files") as lab:
        res = lab.exec(
            "beta",
            ["sh", "-c", 'echo "$1"; echo err >&2; read x; echo "$x"; exit 3', "sh", "it's $HOME"],
            input=b"from stdin\n",
        )
        assert (res.rc, res.stdout, res.stderr) == (3, "it's $HOME\nfrom stdin\n", "err\n")
        lab.put("beta", "/etc/ssh-test/a b.conf", b"x = 1\n", mode=0o640, owner="nobody")
        assert lab.get("beta", "/etc/ssh-test/a b.conf") == b"x = 1\n"
        got = lab.exec("beta", ["stat", "-c", "%a %U", "/etc/ssh-test/a b.conf"]).stdout
        assert got == "640 nobody\n"
        with pytest.raises(FileNotFoundError):
            lab.get("alpha", "/etc/ssh-test/a b.conf")  # alpha has its own /etc
        assert lab.topology_drift == []


def test_down_kills_what_left_the_session_and_closes_everything(up, nodes):
    lab = up("down")
    sess = lab.session("beta")
    sess.run("setsid sleep 1003 >/dev/null 2>&1 </dev/null &")
    sess.run("(trap '' HUP TERM; exec sleep 1004) >/dev/null 2>&1 </dev/null &")
    assert nodes.exec("beta", ["pgrep", "-f", "sleep 100[34]"]).stdout.count("\n") == 2
    assert state.masters(lab.name) and Path(state.lab_dir(lab.name)).is_dir()
    lab.close_sessions()
    lab.down()
    assert gone(nodes, "beta", "sleep 100[34]")
    assert state.masters(lab.name) == []
    assert not Path(state.lab_dir(lab.name)).exists()
    lab.down()  # idempotent


def test_list_attach_and_gc_of_a_run_that_died(up, nodes):
    lab = up("gc")
    provider = get_provider("ssh")
    try:
        info = next(i for i in provider.labs() if i.name == lab.name)
        assert info.provider == "ssh" and info.nodes == ("alpha", "beta")
        assert info.extra["hosts"]["alpha"].endswith("@10.10.0.1")
        other = provider.attach(lab.name)  # e.g. `labbook exec` from another process
        assert other.exec("alpha", ["hostname"]).stdout == "alpha\n"
        other.session("alpha").run("sleep 1005 >/dev/null 2>&1 </dev/null &")
        other.close_sessions()
        # the run that owns the lab is killed: its owner process is gone
        dead = subprocess.Popen(["true"])
        dead.wait()
        state.write(dataclasses.replace(lab.state, owner=(dead.pid, 1)))
        assert (
            f"removed ssh lab '{lab.name}' (its owner process {dead.pid} is gone): 2 master "
            f"connections, {state.lab_dir(lab.name)}" in provider.gc()
        )
        assert state.masters(lab.name) == [] and gone(nodes, "alpha", "sleep 1005")
        assert not [line for line in provider.gc() if lab.name in line]
    finally:
        lab.down()


def test_wrong_host_key_is_refused_naming_the_node(tmp_path, capsys, served):
    wrong = tmp_path / "known_hosts"
    key = Path(served.identity_file + ".pub").read_text().split()[:2]
    wrong.write_text(f"10.10.0.2 {' '.join(key)}\n")  # not beta's host key
    inventory = inventory_with(served, tmp_path, beta={"known_hosts": str(wrong)})
    assert check(tmp_path, "lab-pass", inventory) == 3
    err = capsys.readouterr().err
    assert re.search(
        r"cannot reach node beta \(root@10\.10\.0\.2\): Host key verification "
        r"failed",
        err,
    ), err
    assert "node alpha" not in err


def test_unreachable_node_is_exit_3_naming_it(tmp_path, capsys, served):
    inventory = inventory_with(served, tmp_path, alpha={"port": 2200})
    assert check(tmp_path, "lab-pass", inventory) == 3
    err = capsys.readouterr().err
    assert "cannot reach node alpha (root@10.10.0.1:2200)" in err, err
    assert "node beta" not in err


def test_topology_drift_is_reported_as_drift(tmp_path, capsys, served):
    assert check(tmp_path, "ssh-topology", served.inventory) == 1
    captured = capsys.readouterr()
    warnings = [x for x in captured.err.splitlines() if "topology drift" in x]
    assert len(warnings) == 2, captured.err
    assert re.search(
        r"index\.rst:\d+: WARNING: topology drift: \S+/pair\.yaml:7: node alpha: "
        r"interface eth0 lacks address 10\.10\.0\.9/24 \(it has: 10\.10\.0\.1/24",
        warnings[0],
    ), warnings
    assert "pair.yaml:10: node beta: interface eth1 is missing" in warnings[1]
    assert all(x.endswith("[labbook.drift]") or "labbook.drift" in x for x in warnings)
    assert "(ssh) drift: passed 1" in captured.out


def test_interface_names_mapped_in_the_inventory(tmp_path, capsys, served):
    root = copy_root(tmp_path, "ssh-topology")
    spec = root / "pair.yaml"
    spec.write_text(spec.read_text().replace(", 10.10.0.9/24", ""))
    inventory = inventory_with(served, tmp_path, beta={"interfaces": {"eth1": "eth0"}})
    assert main(["check", str(root), "--provider", "ssh", "--inventory", inventory]) == 0


def test_saved_ssh_config_as_inventory(tmp_path, capsys, served):
    data = yaml.safe_load(Path(served.inventory).read_text())
    blocks = []
    for node, entry in data["nodes"].items():
        blocks.append(
            f"Host {node}\n  HostName {entry['host']}\n  User root\n"
            f"  IdentityFile {served.identity_file}\n"
            f"  UserKnownHostsFile {served.known_hosts}\n"
            f"  ProxyCommand {entry['proxy_command']}\n"
        )
    config = tmp_path / "ssh-config"
    config.write_text("\n".join(blocks))
    assert check(tmp_path, "lab-pass", str(config)) == 0
    # what vagrant writes: host keys not checked, by the config's own choice
    config.write_text(
        "\n".join(blocks)
        .replace(served.known_hosts, "/dev/null")
        .replace("  User root", "  User root\n  StrictHostKeyChecking no")
    )
    assert (
        main(
            [
                "check",
                str(copy_root(tmp_path / "again", "lab-pass")),
                "--provider",
                "ssh",
                "--inventory",
                str(config),
            ]
        )
        == 0
    )


def test_bad_inventory_is_exit_2_with_its_line(tmp_path, capsys):
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("nodes:\n  alpha: {host: 10.10.0.1}\n  beta: {hots: 10.10.0.2}\n")
    assert check(tmp_path, "lab-pass", str(inventory)) == 2
    err = capsys.readouterr().err
    assert f"labbook: {inventory}:3: unknown key 'hots'; did you mean 'host'?" in err
    assert "Traceback" not in err and "Handler" not in err


def test_labbook_ls_exec_down_see_ssh_labs(capsys, up):
    lab = up("cli")
    try:
        lab.detach()  # as `labbook up` does: the lab outlives its process
        capsys.readouterr()
        assert main(["ls", "--json"]) == 0
        listed = {x["name"]: x for x in json.loads(capsys.readouterr().out)}
        assert listed[lab.name]["provider"] == "ssh" and listed[lab.name]["status"] == "up"
        assert main(["exec", lab.name, "beta", "--", "sh", "-c", "hostname; exit 4"]) == 4
        assert capsys.readouterr().out == "beta\n"
        assert main(["down", lab.name]) == 0
        assert state.read(lab.name) is None and state.masters(lab.name) == []
    finally:
        lab.down()


def test_labbook_gc_keeps_a_running_ssh_lab(capsys, up):
    lab = up("kept")
    try:
        lab.detach()
        assert main(["gc"]) == 0
        assert lab.name not in capsys.readouterr().out
        assert state.read(lab.name) is not None and state.masters(lab.name)
    finally:
        lab.down()
