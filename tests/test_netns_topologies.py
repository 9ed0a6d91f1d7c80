"""Topologies on the real kernel: macvlan modes, VLANs, routing, links, host-mode nodes."""

from __future__ import annotations

import pytest
from conftest import NEEDS_USERNS
from test_netns_support import (  # noqa: F401  (fixtures)
    lab_name,
    provider,
    reaches,
    sh,
    spec,
    subreaper,
    variant,
)

from sphinxext.labbook.errors import ProviderError
from sphinxext.labbook.providers.netns import state
from sphinxext.labbook.spec import parse_spec

pytestmark = [NEEDS_USERNS]

HOST, GATEWAY, C1, C2 = "10.0.2.15", "10.0.2.2", "10.0.2.21", "10.0.2.22"


def up_or_skip(provider, lab_spec, name):  # noqa: F811
    """Bring a lab up; skip (saying what the kernel lacks) when the kernel cannot."""
    try:
        return provider.up(lab_spec, name)
    except ProviderError as exc:
        if "this kernel has no support for" in exc.message:
            pytest.skip(exc.message.split("; ")[-1])
        raise


def test_macvlan_bridge_mode_reaches_siblings_and_gateway_not_its_parent(
    provider,  # noqa: F811
    lab_name,  # noqa: F811
) -> None:
    with provider.up(spec("macvlan"), lab_name) as lab:
        assert reaches(lab, "c1", C2)
        assert reaches(lab, "c1", GATEWAY)
        assert not reaches(lab, "c1", HOST)  # the known macvlan limitation
        assert reaches(lab, "host", GATEWAY)
        assert "macvlan mode bridge" in sh(lab, "c1", "ip -d link show eth0")[1]


def test_macvlan_private_mode_isolates_siblings(provider, lab_name) -> None:  # noqa: F811
    private = variant("macvlan", {"mode: bridge": "mode: private"})
    with provider.up(private, lab_name) as lab:
        assert not reaches(lab, "c1", C2)
        assert reaches(lab, "c1", GATEWAY)


def test_macvlan_vepa_needs_a_hairpin_bridge(provider, lab_name) -> None:  # noqa: F811
    vepa = {"mode: bridge": "mode: vepa"}
    with provider.up(variant("macvlan", vepa), lab_name) as lab:
        assert reaches(lab, "c1", GATEWAY)
        assert not reaches(lab, "c1", C2)  # frames go out to the bridge and never come back
    hairpin = {**vepa, "lan: {cidr: 10.0.2.0/24}": "lan: {cidr: 10.0.2.0/24, hairpin: true}"}
    with provider.up(variant("macvlan", hairpin), lab_name) as lab:
        assert reaches(lab, "c1", C2)  # the bridge reflects them back out of the same port
        assert reaches(lab, "c1", GATEWAY)


def test_macvlan_passthru_takes_the_whole_parent(provider, lab_name) -> None:  # noqa: F811
    c2 = (
        "  c2:\n    interfaces:\n      eth0: {type: macvlan, parent: host:eth0, "
        "mode: bridge, address: 10.0.2.22/24}\n"
    )
    one = variant("macvlan", {c2: "  c2: {}\n", "mode: bridge": "mode: passthru"})
    with provider.up(one, lab_name) as lab:
        assert reaches(lab, "c1", GATEWAY)
        assert "passthru" in sh(lab, "c1", "ip -d link show eth0")[1]


VLAN_LAB = """\
name: vlans
networks:
  trunk: {}
nodes:
  a:
    interfaces:
      eth0: {network: trunk}
      eth0.10: {type: vlan, parent: eth0, id: 10, address: 10.10.0.1/24}
  b:
    interfaces:
      eth0: {network: trunk}
      eth0.10: {type: vlan, parent: eth0, id: 10, address: 10.10.0.2/24}
  c:
    interfaces:
      eth0: {network: trunk}
      eth0.20: {type: vlan, parent: eth0, id: 20, address: 10.10.0.3/24}
"""


def test_vlan_subinterfaces_reach_their_vlan_only(provider, lab_name) -> None:  # noqa: F811
    with up_or_skip(provider, parse_spec(VLAN_LAB, "vlans.yaml"), lab_name) as lab:
        assert reaches(lab, "a", "10.10.0.2")
        assert not reaches(lab, "c", "10.10.0.1")


def test_a_kernel_without_vlan_support_is_named_in_the_error(provider, lab_name) -> None:  # noqa: F811
    try:
        lab = provider.up(parse_spec(VLAN_LAB, "vlans.yaml"), lab_name)
    except ProviderError as exc:
        assert "vlans.yaml" in exc.message and "eth0.10" in exc.message
        assert "no support for 802.1Q VLAN interfaces (CONFIG_VLAN_8021Q" in exc.message
        assert state.read(lab_name) is None and lab_name not in state.scan()
        return
    lab.down()
    pytest.skip("this kernel supports VLAN interfaces; the error cannot happen here")


def test_routing_through_a_router_node(provider, lab_name) -> None:  # noqa: F811
    with provider.up(spec("routed"), lab_name) as lab:
        assert sh(lab, "router", "cat /proc/sys/net/ipv4/ip_forward")[1] == "1\n"
        assert reaches(lab, "client", "10.2.0.10")
        assert reaches(lab, "server", "10.1.0.10")
        assert sh(lab, "client", "ip route show default")[1] == "default via 10.1.0.1 dev eth0 \n"
        assert reaches(lab, "client", "10.1.0.254")  # the address on the bridge itself
        assert "link/ether 02:00:00:00:01:10" in sh(lab, "client", "ip link show eth0")[1]
        assert "mtu 1400" in sh(lab, "server", "ip link show eth0")[1]


def test_host_mode_node_sees_the_lab_underlay(provider, lab_name) -> None:  # noqa: F811
    with provider.up(spec("routed"), lab_name) as lab:
        links = sh(lab, "underlay", "ls /sys/class/net")[1].split()
        assert {"left", "right", "router-eth0", "client-eth0", "lo"} <= set(links)
        assert reaches(lab, "underlay", "10.1.0.10")  # through its address on bridge 'left'
        assert sh(lab, "underlay", "hostname")[1] == "underlay\n"


def test_node_without_interfaces_has_only_loopback(provider, lab_name) -> None:  # noqa: F811
    with provider.up(spec("routed"), lab_name) as lab:
        assert sh(lab, "lonely", "ls /sys/class/net")[1].split() == ["lo"]
        assert reaches(lab, "lonely", "127.0.0.1")


def test_point_to_point_link_with_ipv6_and_mtu(provider, lab_name) -> None:  # noqa: F811
    with provider.up(spec("link"), lab_name) as lab:
        assert reaches(lab, "left", "192.168.50.2")
        assert reaches(lab, "left", "fd00:50::2")
        assert "mtu 1400" in sh(lab, "right", "ip link show p2p")[1]
        assert sh(lab, "left", "ls /sys/class/net")[1].split() == ["lo", "p2p"]
