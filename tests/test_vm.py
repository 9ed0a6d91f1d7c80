"""The vm provider with real VMs: QEMU, the host's Debian kernel, the agent (root)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import NEEDS_USERNS, ROOTS
from test_netns_support import (  # noqa: F401  (subreaper: a fixture that reaps detached labs)
    REPO,
    labbook,
    subreaper,
)
from test_vm_plan import ROUTED_VMS

from sphinxext.labbook.cli import main
from sphinxext.labbook.errors import ProviderError
from sphinxext.labbook.providers import get_provider
from sphinxext.labbook.providers.hostpath import program
from sphinxext.labbook.providers.netns.state import lab_dir
from sphinxext.labbook.providers.procs import wait_gone
from sphinxext.labbook.providers.userns import privileged
from sphinxext.labbook.providers.vm import VmLab, state
from sphinxext.labbook.providers.vm.plan import make_plan
from sphinxext.labbook.spec import load_spec, parse_spec

WHY_NOT = get_provider("vm").unavailable()

pytestmark = [
    NEEDS_USERNS,
    pytest.mark.slow,
    pytest.mark.vm,
    pytest.mark.skipif(
        bool(WHY_NOT),
        reason=f"the vm provider is not available: {WHY_NOT} (CI installs bindep's vm profile)",
    ),
]

PAIR = ROOTS / "test-lab-pass" / "pair.yaml"
#: Lab names of this run: test runs on one machine must not take each other's labs.
RUN = secrets.token_hex(3)


def nothing_left(name: str) -> None:
    """No state, no holder, no QEMU of lab ``name`` (taps and bridges die with them)."""
    assert not os.path.exists(lab_dir(name))
    assert name not in state.scan()
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert f"labbook-{name}-" not in ps


@pytest.fixture(scope="module")
def pair():
    """One two-VM lab (alpha 10.10.0.1, beta 10.10.0.2) shared by the tests that only use it."""
    name = f"vm-pair-{RUN}"
    lab = get_provider("vm").up(load_spec(PAIR), name)
    try:
        yield lab
    finally:
        lab.down()
        nothing_left(name)


def sh(lab: VmLab, node: str, script: str, timeout: float = 60) -> tuple[int, str]:
    r = lab.exec(node, ["sh", "-c", script], timeout=timeout)
    return r.rc, r.output


def host_modules() -> str:
    """The host's loaded modules ("" for a kernel built without module support)."""
    path = Path("/proc/modules")
    return path.read_text() if path.exists() else ""


# -- one shared lab ------------------------------------------------------------------------------
def test_two_vms_with_their_own_kernel_and_names_ping_each_other(pair) -> None:
    alpha = pair.session("alpha")
    assert alpha.run("hostname; cat /etc/hostname").stdout == "alpha\nalpha\n"
    assert alpha.run("uname -r").stdout.strip() == pair.state.kernel != os.uname().release
    assert pair.kernel_release == pair.state.kernel  # what recorded results say
    assert "10.10.0.1/24" in alpha.run("ip -br addr show eth0").stdout
    res = alpha.run("ping -c 1 -W 10 beta", timeout=30)
    assert res.rc == 0 and "1 received" in res.stdout and "(10.10.0.2)" in res.stdout
    assert sh(pair, "beta", "ping -c 1 -W 10 10.10.0.1")[0] == 0


#: Frames of a protocol of their own (IEEE's local experimental ethertype) on eth0: a
#: header, then a word and a number. ``SEND N``: send ``echo`` frames 0..N-1 to every
#: station, each again until some station answers it with an ``ackn`` frame of its
#: number; print how many ``echo`` frames of its own came back from the wire meanwhile.
#: ``ANSWER``: answer every ``echo`` frame from the wire.
FRAMES = textwrap.dedent("""\
    import socket, sys
    TYPE = 0x88B5
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(TYPE))
    s.bind(("eth0", TYPE))
    me = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
    def send(word, i):
        s.send(b"\\xff" * 6 + me + TYPE.to_bytes(2, "big") + word + bytes([i]) + bytes(40))
    def frames():
        while True:
            data, addr = s.recvfrom(2048)
            if addr[2] != socket.PACKET_OUTGOING:
                yield data[6:12], data[14:18], data[18]
    if sys.argv[1] == "ANSWER":
        print("ready", flush=True)
        for src, word, i in frames():
            if word == b"echo":
                send(b"ackn", i)
    own = 0
    s.settimeout(2)
    for i in range(int(sys.argv[2])):
        while True:
            send(b"echo", i)
            try:
                for src, word, n in frames():
                    own += src == me and word == b"echo"
                    if word == b"ackn" and n == i:
                        break
            except TimeoutError:
                continue  # lost on the way: send it again
            break
    print(own)
    """)


def test_a_vm_never_receives_its_own_frames_back_from_the_network(pair) -> None:
    # beta answers each frame alpha sends; alpha counts its own frames that come back
    # before the answer. The bridge sends a frame on to beta and back to alpha (if it ever
    # did) at once, so what came back would be there before beta's answer: no timing.
    beta = pair.session("beta")
    beta.run(f"timeout 300 python3 -c '{FRAMES}' ANSWER >/tmp/answer.out 2>&1 </dev/null &")
    assert beta.run("until grep -q ready /tmp/answer.out; do sleep 0.1; done", timeout=60).rc == 0
    rc, out = sh(pair, "alpha", f"python3 -c '{FRAMES}' SEND 20", timeout=120)
    assert (rc, out) == (0, "0\n")  # 20 frames answered, none of them heard again by alpha
    beta.run("kill $!")


def test_a_module_and_its_options_load_in_the_vm_and_not_on_the_host(pair) -> None:
    before = host_modules()
    pair.put("alpha", "/etc/modprobe.d/vhost.conf", b"options vhost_net experimental_zcopytx=0\n")
    rc, out = sh(
        pair,
        "alpha",
        "modprobe vhost_net && lsmod && cat /sys/module/vhost_net/parameters/experimental_zcopytx",
    )
    assert rc == 0, out
    names = [line.split()[0] for line in out.splitlines()[1:-1]]
    assert {"vhost_net", "vhost", "tun"} <= set(names)
    assert out.splitlines()[-1] == "0"
    assert sh(pair, "beta", "lsmod | grep -c '^vhost_net '")[1].strip() == "0"  # other VM
    assert host_modules() == before and "vhost_net" not in before
    assert not os.path.exists("/sys/module/vhost_net")
    assert not os.path.exists("/etc/modprobe.d/vhost.conf")


def test_a_swap_file_on_the_scratch_disk_is_enabled_and_reset(pair) -> None:
    host_swaps = Path("/proc/swaps").read_text()
    script = textwrap.dedent("""\
        set -e
        dd if=/dev/zero of=/scratch/swapfile bs=1M count=32 status=none
        chmod 600 /scratch/swapfile
        mkswap /scratch/swapfile >/dev/null
        echo '/scratch/swapfile none swap sw 0 0' >>/etc/fstab
        swapon -a
        grep -c '^/scratch/swapfile ' /proc/swaps
        swapoff -a && swapon -a
        grep -c '^/scratch/swapfile ' /proc/swaps
        swapoff -a
        grep -c '^/scratch/swapfile ' /proc/swaps || true
        """)
    rc, out = sh(pair, "beta", script)
    assert (rc, out) == (0, "1\n1\n0\n")
    assert Path("/proc/swaps").read_text() == host_swaps


def test_session_timeout_kills_the_command_inside_the_vm(pair) -> None:
    res = pair.session("alpha").run("cd /tmp; echo before; sleep 1000", timeout=1)
    assert res.timed_out and res.rc == 124 and res.stdout == "before\n"
    fresh = pair.session("alpha")
    assert fresh.run("pwd").stdout == "/root\n"  # a new shell
    assert fresh.run("pgrep -f 'sleep 1000'").rc == 1


def test_exec_keeps_streams_apart_and_kills_the_whole_group_at_its_timeout(pair) -> None:
    res = pair.exec(
        "beta",
        ["sh", "-c", 'echo "$1"; echo err >&2; read x; echo "$x"; exit 3', "sh", "it's $HOME"],
        input=b"from stdin\n",
    )
    assert (res.rc, res.stdout, res.stderr) == (3, "it's $HOME\nfrom stdin\n", "err\n")
    res = pair.exec("beta", ["sh", "-c", "echo partial; sleep 1001 & sleep 1002"], timeout=1)
    assert res.timed_out and res.rc == 124 and res.stdout == "partial\n"
    assert sh(pair, "beta", "pgrep -f 'sleep 100[12]'")[0] == 1


def test_files_go_to_one_vm_only_with_mode_and_owner(pair) -> None:
    pair.put("beta", "/etc/vm-test/a b.conf", b"x = 1\n", mode=0o640, owner="nobody")
    assert pair.get("beta", "/etc/vm-test/a b.conf") == b"x = 1\n"
    assert sh(pair, "beta", "stat -c '%a %U' '/etc/vm-test/a b.conf'") == (0, "640 nobody\n")
    with pytest.raises(FileNotFoundError):
        pair.get("alpha", "/etc/vm-test/a b.conf")
    assert not os.path.exists("/etc/vm-test")


def test_background_commands_keep_running_and_sessions_keep_state(pair) -> None:
    s = pair.session("beta")
    pid = s.run("sleep 1003 >/dev/null 2>&1 </dev/null & echo $!").stdout.strip()
    assert s.run("cd /var && export WHO=beta").rc == 0
    assert s.run("echo $WHO $(pwd)").stdout == "beta /var\n"
    assert s.run(f"kill -0 {pid} && echo alive").stdout == "alive\n"


def test_ls_and_exec_from_another_process(pair) -> None:
    info = next(i for i in get_provider("vm").labs() if i.name == pair.name)
    assert info.nodes == ("alpha", "beta") and info.extra["status"] == "up"
    pair.close_sessions()
    pair._close_channels()  # one process at a time on a VM's control channel
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinxext.labbook",
            "exec",
            pair.name,
            "beta",
            "--",
            "sh",
            "-c",
            "hostname; exit 4",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (out.returncode, out.stdout) == (4, "beta\n"), out.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "sphinxext.labbook", "ls", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    mine = [lab for lab in json.loads(listed.stdout) if lab["name"] == pair.name]
    assert mine and mine[0]["provider"] == "vm" and mine[0]["nodes"] == ["alpha", "beta"]
    assert pair.session("alpha").run("hostname").stdout == "alpha\n"  # connects again


def test_labbook_up_leaves_vms_running_for_exec_until_labbook_down() -> None:
    name = f"vm-cli-{RUN}"
    up = labbook("up", str(PAIR), "--name", name, "--provider", "vm")
    assert (up.returncode, up.stdout) == (0, f"{name}\n"), up.stderr
    try:
        first = labbook("exec", name, "alpha", "--", "sh", "-c", "echo $$ > /tmp/pid")
        again = labbook("exec", name, "alpha", "--", "cat", "/tmp/pid")
        assert first.returncode == 0 and again.stdout.strip().isdigit()  # the same VM
        listed = labbook("ls")
        assert any(line.split()[:3] == [name, "vm", "2"] for line in listed.stdout.splitlines())
    finally:
        down = labbook("down", name)
    assert down.returncode == 0, down.stderr
    nothing_left(name)


# -- documents, topologies, failures: a lab each ---------------------------------------------------
def test_verified_step_documents_run_unchanged_on_vms(tmp_path, capsys) -> None:
    for root, code in (("lab-pass", 0), ("lab-drift", 1)):
        shutil.copytree(ROOTS / f"test-{root}", tmp_path / root)
        assert main(["check", str(tmp_path / root), "--provider", "vm"]) == code
    out, err = capsys.readouterr()
    assert "index: lab pair.yaml (vm) passed: passed 6" in out
    assert "+the lab says this" in err and "-the page says that" in err


#: The routed lab of the plan tests, without its node that has no interfaces.
ROUTED = ROUTED_VMS.replace("      lonely: {}\n", "")
#: The same with the right network's ports in access VLAN 20.
ROUTED_VLAN = (
    ROUTED.replace("mtu: 1400}", "mtu: 1400, vlan_filtering: true}")
    .replace("address: 10.2.0.1/24}", "address: 10.2.0.1/24, vlan: 20}")
    .replace("address: 10.2.0.10/24}", "address: 10.2.0.10/24, vlan: 20}")
)


def in_lab_netns(lab: VmLab, argv: list[str]) -> object:
    """The JSON ``argv`` prints in the lab's network namespace on the host: root's
    holder's, or the relay's of an ordinary user's lab (in its user namespace, where the
    user is root)."""
    if privileged():
        assert lab.state.holder is not None
        enter = ["-t", str(lab.state.holder[0]), "-n"]
    else:
        relay = [
            p
            for p in state.scan()[lab.name]
            if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"labbook-relay ")
        ]
        assert len(relay) == 1
        enter = ["-t", str(relay[0]), "-U", "-n", "--preserve-credentials"]
    # by path: bridge(8) is in /sbin, which an ordinary user's PATH may leave out
    argv = [program("nsenter"), *enter, program(argv[0]), *argv[1:]]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def up_routed(tmp_path: Path, text: str) -> VmLab:
    """The routed lab ``text``; skipped, saying what the kernel lacks, where it cannot be."""
    path = tmp_path / "routed.yaml"
    path.write_text(textwrap.dedent(text))
    try:
        return get_provider("vm").up(parse_spec(path.read_text(), str(path)), f"vmr-{RUN}")
    except ProviderError as exc:
        if "this kernel has no support for" in exc.message:
            pytest.skip(exc.message.split("; ")[-1])
        raise


def test_routes_sysctls_mtus_macs_and_vlans_are_set_inside_the_guests(tmp_path) -> None:
    with up_routed(tmp_path, ROUTED) as lab:
        assert sh(lab, "client", "ping -c 1 -W 10 10.2.0.10")[0] == 0  # through the router
        assert sh(lab, "client", "ping -c 1 -W 10 10.1.0.254")[0] == 0  # the bridge
        taps = {(n.node, n.iface): n.tap for n in make_plan(lab.spec).nics}
        links = in_lab_netns(lab, ["bridge", "-j", "-d", "link", "show"])
        assert isinstance(links, list)
        hairpin = {e["ifname"] for e in links if e.get("hairpin")}
        assert hairpin == {taps[("router", "eth0")], taps[("client", "eth0")]}
        assert sh(lab, "router", "sysctl -n net.ipv4.ip_forward") == (0, "1\n")
        assert sh(lab, "server", "cat /sys/class/net/eth0/mtu") == (0, "1400\n")
        assert sh(lab, "client", "cat /sys/class/net/eth0/address") == (0, "02:00:00:00:01:10\n")
        rc, out = sh(lab, "router", "ip -d -br link show eth1.7; ip -d link show eth1.7")
        assert rc == 0 and "vlan protocol 802.1Q id 7" in out
        # as `ip route add` leaves it (proto boot, not shown), like the netns provider's
        assert sh(lab, "client", "ip route show default") == (0, "default via 10.1.0.1 dev eth0 \n")


def test_an_access_vlan_is_the_pvid_of_the_ports_on_the_labs_side(tmp_path) -> None:
    with up_routed(tmp_path, ROUTED_VLAN) as lab:
        assert sh(lab, "client", "ping -c 1 -W 10 10.2.0.10")[0] == 0  # both ports in VLAN 20
        taps = {(n.node, n.iface): n.tap for n in make_plan(lab.spec).nics}
        vlans = in_lab_netns(lab, ["bridge", "-j", "vlan", "show"])
        assert isinstance(vlans, list)
        pvid = {
            e["ifname"]: [v["vlan"] for v in e["vlans"] if "PVID" in v.get("flags", [])]
            for e in vlans
        }
        assert pvid[taps[("router", "eth1")]] == pvid[taps[("server", "eth0")]] == [20]


def test_a_vm_that_cannot_boot_names_its_node_and_console_and_leaves_nothing(monkeypatch) -> None:
    from sphinxext.labbook.providers.vm import qemu

    monkeypatch.setattr(qemu, "guest_python", lambda: "/nonexistent/python3")
    name = f"vm-fail-{RUN}"
    with pytest.raises(ProviderError) as err:
        get_provider("vm").up(load_spec(PAIR), name)
    assert err.value.exit_code == 3
    assert f"node 'alpha' of lab '{name}'" in err.value.message
    assert "labbook-init: no /nonexistent/python3 on the host's root" in err.value.message
    nothing_left(name)


def test_the_accelerator_probe_sees_the_kernel_come_up() -> None:
    from sphinxext.labbook.providers.vm import images, qemu

    imgs = images.ensure(images.default_cache_dir(), get_provider("vm").available())
    assert qemu.boots(imgs, "tcg", 120)  # the initramfs answers a probe and powers off
    assert qemu.choose_accel("tcg", "/nonexistent", imgs) == "tcg"


#: Brings a vm lab up inside ``with``, says so, and sleeps (to be killed).
SCRIPT = textwrap.dedent("""\
    import sys, time
    from sphinxext.labbook.providers import get_provider
    from sphinxext.labbook.spec import load_spec

    with get_provider("vm").up(load_spec(sys.argv[1]), sys.argv[2]) as lab:
        lab.session("alpha").run("sleep 1000 >/dev/null 2>&1 </dev/null &")
        print("up", flush=True)
        time.sleep(300)
    """)


def test_sigkill_of_the_runner_then_gc_leaves_no_vm_tap_namespace_or_socket() -> None:
    name = f"vm-kill-{RUN}"
    count = 3 if privileged() else 4
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(PAIR), name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "up\n", proc.stderr.read() if proc.stderr else line
        # the holder, two QEMUs and, for an ordinary user's lab, its relay
        assert len(state.scan()[name]) == count
        assert {p.name for p in Path(lab_dir(name)).iterdir()} >= {
            "0.ctl",
            "1.ctl",
            "alpha.scratch",
            *([] if privileged() else ["tap0.q", "tap0.r", "tap1.q", "tap1.r"]),
        }
        assert Path(lab_dir(name)).stat().st_mode & 0o777 == 0o700  # the sockets are its own
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert name in state.scan()  # the VMs outlive a killed runner ...
    lines = get_provider("vm").gc()
    assert (
        f"removed vm lab '{name}' (its owner process {proc.pid} is gone): {count} processes, "
        f"{lab_dir(name)}" in lines
    )
    nothing_left(name)  # ... until gc; the namespace, bridge and taps went with them
    assert not [x for x in get_provider("vm").gc() if name in x]


def test_the_vms_and_the_relay_die_with_a_killed_holder() -> None:
    name = f"vm-holder-{RUN}"
    lab = get_provider("vm").up(load_spec(PAIR), name)
    try:
        assert lab.state.holder is not None
        holder = lab.state.holder[0]
        others = [p for p in state.scan()[name] if p != holder]
        assert len(others) == (2 if privileged() else 3)  # two QEMUs, and the relay
        os.kill(holder, signal.SIGKILL)
        assert wait_gone(others, time.monotonic() + 60) == []  # their parent-death signal
    finally:
        lab.down()
    nothing_left(name)


@pytest.mark.sphinx(
    "html",
    testroot="lab-pass",
    freshenv=True,
    confoverrides={
        "labbook_provider_force": "vm",
        "labbook_provider_options": {"kernel": "0.0.0-missing"},
    },
)
def test_a_provider_unavailable_here_is_reported_as_not_run_with_the_reason(app) -> None:
    from conftest import warnings_of

    app.build()
    warnings = warnings_of(app)
    assert warnings.count("WARNING") == 1 and warnings.count("[labbook.not-run]") == 1
    assert "the vm provider is not available here: no kernel 0.0.0-missing" in warnings
    html = (Path(app.outdir) / "index.html").read_text()
    assert "not run: the vm provider is not available here: no kernel 0.0.0-missing" in html


def test_a_long_output_is_bounded_an_exit_ends_the_shell_notices_stay_out(
    pair, tmp_path: Path
) -> None:
    pair.output_dir = str(tmp_path)
    pair.close_sessions()  # sessions opened from here keep long outputs in tmp_path
    s = pair.session("alpha")
    res = s.run("seq 300000; echo end", timeout=300)
    assert res.rc == 0 and res.stdout.endswith("299999\n300000\nend\n")
    assert "output cut here" in res.stdout and res.stdout.count("\n") < 500
    assert Path(res.full_output).parent == tmp_path
    assert Path(res.full_output).read_text().endswith("300000\nend\n")
    s.run("sleep 300 & echo $! > /tmp/job")
    pair.exec("alpha", ["sh", "-c", "kill -KILL $(cat /tmp/job)"])
    assert s.run("sleep 0.3; echo quiet").stdout == "quiet\n"
    res = s.run("exit 4")
    assert res.ended and res.rc == 4
    assert pair.session("alpha").run("echo fresh").stdout == "fresh\n"


def test_a_nodes_packages_are_in_its_guest_only_over_the_hosts_root(tmp_path) -> None:
    """A prepared package tree (as packages.ensure leaves it in the cache) lies over the
    host's root in the guest: its programs run there, /bin is still the host's link, and
    neither the host nor the other node sees them."""
    from test_vm_packages import build_deb

    from sphinxext.labbook.providers.vm import packages

    cache = tmp_path / "cache"
    names = ("labdemo",)
    build_deb(tmp_path, "labdemo")
    root = cache / "packages" / packages.key(names)
    root.mkdir(parents=True)
    packages.unpack(str(tmp_path / "debs"), str(root), "node 'alpha'")
    spec = parse_spec(
        textwrap.dedent(
            """\
            name: vmpkgs
            nodes:
              alpha:
                packages: [labdemo]
              beta: {}
            """
        ),
        "lab.yaml",
    )
    from sphinxext.labbook.providers.vm import images

    kver = get_provider("vm").available()  # the boot images of the usual cache, not rebuilt
    os.symlink(os.path.join(images.default_cache_dir(), kver), cache / kver)
    provider = get_provider("vm", cache_dir=str(cache), scratch="0")
    # As root, the host gets a copy of its own in /usr/local/sbin (earlier on PATH): the
    # packaged program must still win in alpha, and beta must still see the host's copy.
    host_copy = "/usr/local/sbin/labdemod" if os.geteuid() == 0 else None
    try:
        if host_copy:
            with open(host_copy, "x") as f:
                f.write("#!/bin/sh\necho host copy\n")
            os.chmod(host_copy, 0o755)
        with provider.up(spec, f"vmp-{RUN}") as lab:
            rc, out = sh(lab, "alpha", "labdemod; cat /etc/labdemo/conf; readlink /bin; ls /DEBIAN")
            assert (rc, out.splitlines()[:3]) == (2, ["daemon", "on", "usr/bin"]), out
            assert sh(lab, "beta", "test -e /usr/sbin/labdemod")[0] == 1
            if host_copy:
                assert sh(lab, "beta", "labdemod") == (0, "host copy\n")
    finally:
        if host_copy:
            os.unlink(host_copy)
    assert shutil.which("labdemod") is None
    nothing_left(f"vmp-{RUN}")
