"""The vm provider without VMs: plans, QEMU command lines, boot images, options, errors."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_netns_support import spec

from sphinxext.labbook.errors import ProviderError, UsageError
from sphinxext.labbook.providers import get_provider, hostpath
from sphinxext.labbook.providers.vm import images
from sphinxext.labbook.providers.vm.plan import hosts_file, make_plan
from sphinxext.labbook.providers.vm.qemu import machine
from sphinxext.labbook.spec import parse_spec


def plan_of(text: str):  # type: ignore[no-untyped-def]
    return make_plan(parse_spec(textwrap.dedent(text), "lab.yaml"))


ROUTED_VMS = """\
    name: routed
    networks:
      left: {cidr: 10.1.0.0/24, address: 10.1.0.254/24, hairpin: true}
      right: {cidr: 10.2.0.0/24, mtu: 1400}
    nodes:
      router:
        sysctls: {net.ipv4.ip_forward: 1}
        interfaces:
          eth0: {network: left, address: 10.1.0.1/24}
          eth1: {network: right, address: 10.2.0.1/24}
          eth1.7: {type: vlan, parent: eth1, id: 7, address: 10.7.0.1/24}
      client:
        gateway: 10.1.0.1
        interfaces:
          eth0: {network: left, address: 10.1.0.10/24, mac: "02:00:00:00:01:10"}
      server:
        routes:
          - {to: 10.1.0.0/24, via: 10.2.0.1}
        interfaces:
          eth0: {network: right, address: 10.2.0.10/24}
      lonely: {}
    """


def test_networks_are_bridges_and_interfaces_are_nics_with_stable_macs() -> None:
    plan = plan_of(ROUTED_VMS)
    assert [(b.name, b.mtu, b.hairpin, str(b.address)) for b in plan.bridges] == [
        ("left", None, True, "10.1.0.254/24"),
        ("right", 1400, False, "None"),
    ]
    nics = [(n.node, n.iface, n.bridge, n.mtu) for n in plan.nics]
    assert nics == [
        ("router", "eth0", "left", None),
        ("router", "eth1", "right", 1400),
        ("client", "eth0", "left", None),
        ("server", "eth0", "right", 1400),
    ]
    assert len({n.tap for n in plan.nics}) == 4 and all(len(n.tap) <= 15 for n in plan.nics)
    macs = [n.mac for n in plan.nics]
    assert macs[2] == "02:00:00:00:01:10"  # the spec's own MAC
    assert len(set(macs)) == 4 and all(
        m.startswith("52:54:00:") for i, m in enumerate(macs) if i != 2
    )
    assert plan_of(ROUTED_VMS).nics == plan.nics  # the same lab, the same MACs
    assert plan.nics_of("lonely") == ()


def test_the_guest_configures_names_addresses_subinterfaces_routes_and_sysctls() -> None:
    plan = plan_of(ROUTED_VMS)
    router = plan.guest("router")
    assert router.hostname == "router"
    assert dict(router.nics) == {n.mac: n.iface for n in plan.nics_of("router")}
    assert router.ip.splitlines() == [
        "link set dev eth1 mtu 1400",
        "link add link eth1 name eth1.7 type vlan id 7",
        "address add 10.1.0.1/24 brd + dev eth0",
        "address add 10.2.0.1/24 brd + dev eth1",
        "address add 10.7.0.1/24 brd + dev eth1.7",
        "link set dev eth0 up",
        "link set dev eth1 up",
        "link set dev eth1.7 up",
    ]
    assert router.sysctls == (("net.ipv4.ip_forward", "1"),)
    assert "route add default via 10.1.0.1" in plan.guest("client").ip
    server = plan.guest("server").ip
    assert "route add 10.1.0.0/24 via 10.2.0.1\n" in server
    assert plan.guest("lonely").ip == ""


def test_every_node_knows_the_others_by_name() -> None:
    plan = plan_of(ROUTED_VMS)
    files = dict(plan.guest("client").files)
    assert files["/etc/hostname"] == "client\n"
    assert files["/etc/hosts"] == hosts_file(parse_spec(textwrap.dedent(ROUTED_VMS)), "client")
    lines = files["/etc/hosts"].splitlines()
    assert lines[:2] == ["127.0.0.1\tlocalhost", "127.0.1.1\tclient"]
    assert "10.1.0.1\trouter" in lines and "10.2.0.10\tserver" in lines
    assert not any(line.endswith("\tclient") and not line.startswith("127.") for line in lines)


def test_a_link_is_a_bridge_of_its_own() -> None:
    plan = make_plan(spec("link"))
    assert [(b.name, b.mtu) for b in plan.bridges] == [("link0", None)]
    assert {(n.node, n.bridge, n.mtu) for n in plan.nics} == {
        ("left", "link0", 1400),
        ("right", "link0", 1400),
    }
    assert "address add fd00:50::1/64 dev p2p nodad\n" in plan.guest("left").ip
    assert "address add 192.168.50.1/30 brd + dev p2p\n" in plan.guest("left").ip


def test_what_a_vm_cannot_be_is_refused_naming_the_feature_and_place() -> None:
    with pytest.raises(
        ProviderError,
        match=r"node 'underlay' \(.*routed.yaml:\d+:\d+\): "
        r"network-mode host is not supported by the vm provider",
    ):
        make_plan(spec("routed"))
    with pytest.raises(
        ProviderError,
        match=r"node 'c1' interface 'eth0' \(.*macvlan.yaml:\d+"
        r":\d+\): the vm provider cannot put a macvlan on another node's "
        r"interface \(host:eth0\)",
    ):
        make_plan(spec("macvlan"))


def test_qemu_command_line_names_the_lab_and_wires_every_nic(tmp_path: Path) -> None:
    plan = plan_of(ROUTED_VMS)
    imgs = images.Images("6.1.0-test", "/cache/vmlinux", "/cache/initrd.cpio")
    nics = list(plan.nics_of("router"))
    kw: dict[str, Any] = {"accel": "tcg", "memory": 384, "cpus": 1, "python": "/usr/bin/python3.11"}
    m = machine("lab1", "router", 0, str(tmp_path), imgs, nics, scratch=True, **kw)
    argv = list(m.argv)
    assert argv[argv.index("-name") + 1] == "labbook-lab1-router"
    assert argv[argv.index("-m") + 1] == "384" and argv[argv.index("-accel") + 1] == "tcg"
    assert m.ctl == str(tmp_path / "0.ctl") and m.console == str(tmp_path / "router.console")
    netdevs = [argv[i + 1] for i, a in enumerate(argv) if a == "-netdev"]
    assert netdevs == [
        f"tap,id=n{i},ifname={n.tap},script=no,downscript=no" for i, n in enumerate(nics)
    ]
    devices = " ".join(argv[i + 1] for i, a in enumerate(argv) if a == "-device")
    for nic in nics:
        assert f"mac={nic.mac}" in devices
    append = argv[argv.index("-append") + 1]
    assert "lb_python=/usr/bin/python3.11" in append and "lb_scratch=vda" in append
    assert any(a.startswith(f"file={tmp_path}/router.scratch,") for a in argv)
    # an ordinary user's NICs send to the relay, over sockets in the lab's directory
    argv = list(
        machine("lab1", "router", 0, "/lb/l", imgs, nics, scratch=False, relayed=True, **kw).argv
    )
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-netdev"] == [
        f"dgram,id=n{i},local.type=unix,local.path=/lb/l/{n.tap}.q,"
        f"remote.type=unix,remote.path=/lb/l/{n.tap}.r"
        for i, n in enumerate(nics)
    ]


def test_options_are_checked() -> None:
    with pytest.raises(UsageError, match="unknown option of the vm provider: inventory"):
        get_provider("vm", inventory="x").settings()
    with pytest.raises(UsageError, match=r"memory is 'lots'; write a whole number from 64 "):
        get_provider("vm", memory="lots").settings()
    for key, value in (("cpus", "0"), ("boot_timeout", "inf"), ("scratch", "-1")):
        with pytest.raises(UsageError, match=f"{key} is '{value}'; write a whole number from"):
            get_provider("vm", **{key: value}).settings()
    with pytest.raises(UsageError, match="accel='xen': write auto, kvm or tcg"):
        get_provider("vm", accel="xen").settings()


def test_a_missing_tool_or_kernel_names_the_debian_package(monkeypatch, tmp_path) -> None:
    # the host's tools as stand-ins, whatever this machine has installed
    for tool in (images.QEMU, "cpio", "mkfs.ext4", "modprobe"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF" + bytes(60))  # an ELF file without an interpreter
    monkeypatch.setattr(images, "BUSYBOX", str(busybox))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(hostpath, "SBIN", ())  # nothing of this machine's /usr/sbin either
    assert (
        get_provider("vm", kernel="0.0.0-none")
        .unavailable()
        .startswith("no kernel 0.0.0-none for VMs (need /boot/vmlinuz-0.0.0-none")
    )
    (tmp_path / "mkfs.ext4").unlink()
    assert get_provider("vm").unavailable() == (
        "the vm provider needs mkfs.ext4: install the Debian package e2fsprogs (it is in "
        "bindep.txt, profile vm)"
    )
    monkeypatch.setenv("PATH", "/nonexistent")
    why = get_provider("vm").unavailable()
    assert why == (
        "the vm provider needs qemu-system-x86_64: install the Debian package "
        "qemu-system-x86 (it is in bindep.txt, profile vm)"
    )
    with pytest.raises(ProviderError, match="install the Debian package qemu-system-x86"):
        get_provider("vm").up(spec("pair"), "novm")


def test_sbin_tools_are_found_with_an_ordinary_users_path(monkeypatch, tmp_path) -> None:
    # Debian gives ordinary users no /usr/sbin in PATH; mkfs.ext4 and modprobe live there
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "mkfs.ext4").write_text("#!/bin/sh\n")
    (sbin / "mkfs.ext4").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(hostpath, "SBIN", (str(sbin),))
    assert hostpath.which("mkfs.ext4") == str(sbin / "mkfs.ext4")
    assert hostpath.program("mkfs.ext4") == str(sbin / "mkfs.ext4")
    assert hostpath.which("no-such-tool") is None
    assert hostpath.program("no-such-tool") == "no-such-tool"


@pytest.mark.skipif(
    not images.kernels(),
    reason="no kernel in /boot with modules (bindep profile vm: linux-image-amd64)",
)
def test_boot_images_are_built_once_under_hashed_names(tmp_path: Path) -> None:
    kver = images.kernels()[-1]
    first = images.ensure(str(tmp_path), kver)
    assert Path(first.vmlinux).read_bytes()[:4] == b"\x7fELF"
    assert Path(first.initrd).read_bytes()[:6] == b"070701"  # cpio, newc format
    stamp = os.stat(first.initrd).st_mtime_ns
    assert images.ensure(str(tmp_path), kver) == first
    assert os.stat(first.initrd).st_mtime_ns == stamp  # not rebuilt
    assert not [p for p in os.listdir(tmp_path / kver) if p.startswith(".build-")]
    names = [os.path.basename(m) for m in images.module_files(kver)]
    assert names.index("virtio.ko") < names.index("virtio_net.ko")  # dependencies first
    assert {"9p.ko", "overlay.ko", "virtio_console.ko", "ext4.ko"} <= set(names)


def test_an_interface_only_a_link_declares_is_a_nic_on_that_link() -> None:
    plan = plan_of(
        """\
        name: undeclared
        nodes:
          compute: {}
          guest:
            interfaces:
              eth0: {address: 10.0.1.3/24}
        links:
          - endpoints: ["compute:vnet0", "guest:eth0"]
          - endpoints: ["compute:vnet1", "guest:eth1"]
        """
    )
    assert {(n.node, n.iface, n.bridge) for n in plan.nics} == {
        ("compute", "vnet0", "link0"),
        ("compute", "vnet1", "link1"),
        ("guest", "eth0", "link0"),
        ("guest", "eth1", "link1"),
    }
    assert len({n.mac for n in plan.nics}) == 4
    assert sorted(dict(plan.guest("compute").nics).values()) == ["vnet0", "vnet1"]


def test_the_retired_bridges_option_is_one_line_saying_to_remove_it() -> None:
    for value in ("real", "any"):
        with pytest.raises(UsageError) as err:
            get_provider("vm", bridges=value).settings()
        assert err.value.message == (
            f"bridges={value}: the vm provider no longer takes this option (every VM lab "
            "has real bridges now, an ordinary user's as well as root's); remove it"
        )
        assert err.value.exit_code == 2
