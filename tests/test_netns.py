"""The netns provider against the real kernel: isolation, networks, files, processes."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from conftest import NEEDS_USERNS
from test_netns_support import (  # noqa: F401  (fixtures)
    REPO,
    lab_name,
    provider,
    reaches,
    sh,
    spec,
    subreaper,
    variant,
)

from sphinxext.labbook.errors import NodeNotFound, ProviderError, UsageError
from sphinxext.labbook.providers.netns import NetnsProvider, state
from sphinxext.labbook.runner.signals import Terminated, sigterm_raises
from sphinxext.labbook.spec import parse_spec

pytestmark = [NEEDS_USERNS]


@pytest.fixture
def pair(provider: NetnsProvider, lab_name: str):  # noqa: F811
    with provider.up(spec("pair"), lab_name) as lab:
        yield lab


def test_pair_pings_across_its_bridge(pair) -> None:
    assert reaches(pair, "alpha", "10.0.0.2")
    assert reaches(pair, "beta", "10.0.0.1")


def test_each_node_has_its_hostname(pair) -> None:
    assert sh(pair, "alpha", "hostname")[1] == "alpha.lab\n"
    assert sh(pair, "beta", "hostname; cat /etc/hostname")[1] == "beta\nbeta\n"
    assert "10.0.0.2\tbeta" in pair.get("alpha", "/etc/hosts").decode()


def test_etc_is_private_to_a_node_and_gone_after_down(provider, lab_name) -> None:  # noqa: F811
    probe = f"/etc/labbook-probe-{lab_name}"
    with provider.up(spec("pair"), lab_name) as lab:
        assert sh(lab, "alpha", f"echo secret > {probe} && cat {probe}") == (0, "secret\n")
        assert sh(lab, "beta", f"test -e {probe}")[0] == 1
        assert not os.path.exists(probe)
    assert not os.path.exists(probe)
    with provider.up(spec("pair"), lab_name) as lab:
        assert sh(lab, "alpha", f"test -e {probe}")[0] == 1


def test_private_directories_are_writable(pair) -> None:
    rc, out = sh(
        pair,
        "alpha",
        "for d in /etc /var /run /tmp /root /home; do touch $d/labbook-w && echo ok $d; done",
    )
    assert rc == 0, out
    assert out.count("ok ") == 6
    assert all(not os.path.exists(f"{d}/labbook-w") for d in ("/etc", "/var", "/root"))


def test_host_files_are_read_only_in_a_node(pair) -> None:
    rc, out = sh(pair, "alpha", "touch /usr/labbook-probe")
    assert rc != 0 and "Read-only file system" in out
    assert not os.path.exists("/usr/labbook-probe")
    rc, out = sh(pair, "alpha", "echo x > /sys/class/net/lo/ifalias")
    assert rc != 0 and "Read-only file system" in out


def test_global_kernel_settings_are_read_only_net_sysctls_are_not(pair) -> None:
    rc, out = sh(pair, "alpha", "echo 1 > /proc/sys/kernel/panic")
    assert rc != 0 and "Read-only file system" in out
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_value = f.read()
    flip = "0" if host_value.strip() == "1" else "1"
    assert sh(
        pair,
        "alpha",
        f"echo {flip} > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward",
    ) == (0, f"{flip}\n")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host_value


def test_a_node_sees_its_own_proc_and_sys(pair) -> None:
    assert sh(pair, "alpha", "ls /sys/class/net")[1].split() == ["eth0", "lo"]
    out = sh(pair, "alpha", "cat /proc/1/cmdline | tr '\\0' ' '")[1]
    assert out.startswith(f"labbook-node {pair.name}/alpha")
    # the node's ps lists only the node's processes
    _rc, out = sh(pair, "alpha", "ps -e -o pid= | wc -l")
    assert int(out) <= 4  # init, sh, ps (and wc)


def test_signals_to_pid_1_from_inside_do_not_end_the_node(pair) -> None:
    assert sh(pair, "alpha", "kill -TERM 1; kill -HUP 1; kill -INT 1; echo sent")[1] == "sent\n"
    assert sh(pair, "alpha", "hostname")[1] == "alpha.lab\n"


def test_interfaces_created_in_a_node_stay_in_it(pair) -> None:
    before = set(os.listdir("/sys/class/net"))
    rc, out = sh(pair, "alpha", "ip link add lbx0 type veth peer name lbx1 && ip -br link")
    assert rc == 0 and "lbx0" in out
    assert set(os.listdir("/sys/class/net")) == before


def test_background_process_dies_with_the_lab(provider, lab_name) -> None:  # noqa: F811
    lab = provider.up(spec("pair"), lab_name)
    try:
        inner = int(lab.session("alpha").run("sleep 1000 & echo $!").stdout)
        procs = lab.processes("alpha")
        sleeper = [p for p in procs if _pid_in_node(p) == inner]
        assert len(sleeper) == 1  # the background job, as the host sees it
    finally:
        lab.__exit__(None, None, None)
    assert not os.path.exists(f"/proc/{sleeper[0]}")
    assert state.read(lab_name) is None


def _pid_in_node(pid: int) -> int:
    """The pid the node itself sees for host pid ``pid`` (the last of NSpid)."""
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("NSpid:")).split()[-1])


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_exec_keeps_streams_apart_and_passes_the_exit_code(pair) -> None:
    r = pair.exec("beta", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.rc, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = pair.exec("beta", ["cat"], input=b"fed through stdin")
    assert r.stdout == "fed through stdin"
    assert pair.exec("beta", ["pwd"]).stdout == "/root\n"


def test_exec_timeout_kills_the_tree_and_keeps_partial_output(pair) -> None:
    r = pair.exec(
        "alpha", ["sh", "-c", "echo before; sleep 30 & sleep 30; echo after"], timeout=0.5
    )
    assert r.timed_out and r.rc == 124
    assert r.stdout == "before\n"
    assert [p for p in pair.processes("alpha") if _comm(p) == "sleep"] == []
    assert reaches(pair, "alpha", "10.0.0.2")  # the node itself lives on


def test_unknown_node_names_the_nodes(pair) -> None:
    with pytest.raises(NodeNotFound, match="its nodes: alpha, beta"):
        pair.exec("gamma", ["true"])


def test_put_and_get_files(pair) -> None:
    pair.put("alpha", "/etc/nova/nova.conf", b"[DEFAULT]\n", mode=0o640, owner="root:daemon")
    assert pair.get("alpha", "/etc/nova/nova.conf") == b"[DEFAULT]\n"
    assert sh(pair, "alpha", "stat -c '%a %U %G' /etc/nova/nova.conf")[1] == "640 root daemon\n"
    assert not os.path.exists("/etc/nova/nova.conf")
    with pytest.raises(FileNotFoundError):
        pair.get("beta", "/etc/nova/nova.conf")


def test_files_are_reached_through_the_nodes_own_symlinks(pair) -> None:
    # An absolute symlink in a node resolves in the node, never on the host.
    assert sh(pair, "alpha", "ln -s /etc/hostname /etc/lb-link")[0] == 0
    assert pair.get("alpha", "/etc/lb-link") == b"alpha.lab\n"
    assert sh(pair, "alpha", "ln -s /etc/passwd /root/lb-passwd")[0] == 0
    with open("/etc/passwd", "rb") as f:
        host_passwd = f.read()
    pair.put("alpha", "/root/lb-passwd", b"changed:x:0:0::/:/bin/sh\n")
    with open("/etc/passwd", "rb") as f:
        assert f.read() == host_passwd
    assert pair.get("alpha", "/etc/passwd") == b"changed:x:0:0::/:/bin/sh\n"


def test_put_cannot_write_host_files(pair) -> None:
    with pytest.raises(ProviderError, match="Read-only file system"):
        pair.put("alpha", "/usr/lib/labbook-probe", b"x")


def test_two_labs_of_one_spec_run_side_by_side(provider, lab_name) -> None:  # noqa: F811
    with (
        provider.up(spec("pair"), lab_name) as one,
        provider.up(spec("pair"), f"{lab_name}-b") as two,
    ):
        assert reaches(one, "alpha", "10.0.0.2") and reaches(two, "alpha", "10.0.0.2")
        assert sh(one, "alpha", "touch /tmp/only-in-one")[0] == 0
        assert sh(two, "alpha", "test -e /tmp/only-in-one")[0] == 1
        assert {i.name for i in provider.labs()} >= {lab_name, f"{lab_name}-b"}


def test_a_running_name_cannot_be_taken_again(pair, provider) -> None:  # noqa: F811
    with pytest.raises(UsageError, match="already running"):
        provider.up(spec("pair"), pair.name)
    assert reaches(pair, "alpha", "10.0.0.2")  # the running lab is untouched


def test_attach_from_a_handle_and_down_twice(pair, provider) -> None:  # noqa: F811
    other = provider.attach(pair.name)
    assert other.exec("beta", ["hostname"]).stdout == "beta\n"
    other.down()
    other.down()  # idempotent
    pair.down()
    assert state.read(pair.name) is None


def test_failure_during_up_tears_down_what_was_created(provider, lab_name) -> None:  # noqa: F811
    bad = variant("routed", {"net.ipv4.ip_forward: 1": "net.ipv4.no_such_setting: 1"})
    with pytest.raises(ProviderError, match=r"cannot set sysctl net\.ipv4\.no_such_setting"):
        provider.up(bad, lab_name)
    assert state.read(lab_name) is None
    assert lab_name not in state.scan()


@pytest.mark.parametrize(
    "signum, raised", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)]
)
def test_up_interrupted_tears_everything_down(provider, lab_name, signum, raised) -> None:  # noqa: F811
    text = "name: big\nnetworks: {lan: {cidr: 10.9.0.0/16}}\nnodes:\n" + "".join(
        f"  n{i}: {{interfaces: {{eth0: {{network: lan}}}}}}\n" for i in range(80)
    )
    big = parse_spec(text, "big.yaml")
    with sigterm_raises(), pytest.raises(raised):
        signal.setitimer(signal.ITIMER_REAL, 0.03)
        previous = signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signum))
        try:
            provider.up(big, lab_name).down()
            pytest.fail("the lab came up before the signal arrived")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    assert state.read(lab_name) is None
    assert lab_name not in state.scan()


def test_host_named_namespaces_and_lab_state_are_hidden_in_a_node(pair) -> None:
    name = f"lbhide{os.getpid()}"
    # Only root may name a namespace of the host's; the lab's state is hidden either way.
    made = os.geteuid() == 0 and subprocess.run(["ip", "netns", "add", name]).returncode == 0
    try:
        rc, out = sh(
            pair, "alpha", f"ls -A /run/netns {state.state_root()}; ip addr show eth0 2>&1"
        )
        assert rc == 0 and "eth0" in out
        assert name not in out and pair.name not in out
        assert "Peer netns reference is invalid" not in out
        # the node may still make named namespaces of its own (CNI, CNM runtimes do)
        assert sh(pair, "alpha", "ip netns add inner && ip netns list") == (0, "inner\n")
    finally:
        if made:
            subprocess.run(["ip", "netns", "delete", name], check=True)


def test_tmp_shows_the_hosts_files_but_writes_stay_in_the_node(pair) -> None:
    host_file = f"/tmp/labbook-tmp-{os.getpid()}"
    with open(host_file, "w") as f:
        f.write("from the host\n")
    try:
        assert sh(pair, "alpha", f"cat {host_file}") == (0, "from the host\n")
        assert (
            sh(
                pair, "alpha", f"echo changed > {host_file}; touch {host_file}.new; stat -c %a /tmp"
            )[1]
            == "1777\n"
        )
        assert sh(pair, "beta", f"cat {host_file}; test -e {host_file}.new || echo absent") == (
            0,
            "from the host\nabsent\n",
        )
        with open(host_file) as f:
            assert f.read() == "from the host\n"
        assert not os.path.exists(f"{host_file}.new")
    finally:
        os.unlink(host_file)
