"""The netns provider's plan: which device goes where, with which name and index (no root)."""

from __future__ import annotations

import textwrap

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from test_netns_support import spec

from sphinxext.labbook.errors import ProviderError
from sphinxext.labbook.providers.netns import netlink
from sphinxext.labbook.providers.netns.plan import ROOT, make_plan
from sphinxext.labbook.spec import parse_spec


def plan_of(text: str):  # type: ignore[no-untyped-def]
    return make_plan(parse_spec(textwrap.dedent(text), "lab.yaml"))


def all_devs(plan):  # type: ignore[no-untyped-def]
    devs = [b.dev for b in plan.bridges] + [s.dev for s in plan.subifs]
    return devs + [d for v in plan.veths for d in (v.a, v.b)]


def test_indexes_are_unique_per_namespace_and_leave_lo_alone() -> None:
    plan = make_plan(spec("routed"))
    devs = all_devs(plan)
    for ns in {d.ns for d in devs}:
        indexes = [d.index for d in devs if d.ns == ns]
        names = [d.name for d in devs if d.ns == ns]
        assert len(set(indexes)) == len(indexes) and min(indexes) >= 2
        assert len(set(names)) == len(names) and "lo" not in names
        assert all(len(n) <= 15 for n in names)
    assert plan.namespaces == ("client", "lonely", "router", "server")  # not 'underlay'


def test_bridge_side_ends_are_named_after_node_and_interface() -> None:
    plan = make_plan(spec("routed"))
    outer = {v.b.ns + ":" + v.b.name: v.a for v in plan.veths}
    assert outer["router:eth1"].name == "router-eth1" and outer["router:eth1"].ns == ROOT
    bridges = {b.dev.name: b.dev.index for b in plan.bridges}
    assert {v.master for v in plan.veths} == set(bridges.values())
    assert plan.veths[0].a.mtu is None and outer["server:eth0"].mtu == 1400


def test_long_names_fall_back_to_short_unique_ones() -> None:
    plan = plan_of("""\
        name: x
        networks: {lan: {}}
        nodes:
          a-rather-long-node-name: {interfaces: {eth0: {network: lan}}}
          b: {network-mode: host, interfaces: {veth1: {network: lan}}}
        """)
    names = sorted(v.a.name for v in plan.veths)
    assert names == ["b-veth1", "veth2"]  # veth1 is b's own interface in the root namespace


def test_host_mode_interface_cannot_take_a_bridge_name() -> None:
    with pytest.raises(ProviderError, match="two interfaces named 'lan' in the lab's root"):
        plan_of("""\
            name: x
            networks: {lan: {}}
            nodes:
              h: {network-mode: host, interfaces: {lan: {network: lan}}}
            """)


def test_sub_interfaces_come_after_their_parents() -> None:
    plan = plan_of("""\
        name: x
        networks: {lan: {}}
        nodes:
          c: {interfaces: {v10: {type: vlan, parent: m0, id: 10}, m0: {type: macvlan,
              parent: host:eth0}}}
          host: {interfaces: {eth0: {network: lan}}}
        """)
    assert [s.dev.name for s in plan.subifs] == ["m0", "v10"]
    m0, v10 = plan.subifs
    assert m0.parent.ns == "host" and m0.dev.ns == "c" and v10.parent == m0.dev


def test_a_parent_loop_is_refused() -> None:
    with pytest.raises(ProviderError, match="its parent a:m1 is never created"):
        plan_of("""\
            name: x
            nodes:
              a: {interfaces: {m0: {type: macvlan, parent: m1}, m1: {type: macvlan, parent: m0}}}
            """)


def test_routes_sysctls_and_hosts() -> None:
    plan = make_plan(spec("routed"))
    assert [(r.ns, r.to, r.via) for r in plan.routes] == [
        ("client", "default", "10.1.0.1"),
        ("server", "10.1.0.0/24", "10.2.0.1"),
    ]
    assert [s[:3] for s in plan.sysctls] == [("router", "net.ipv4.ip_forward", "1")]
    assert ("10.1.0.10", "client") in plan.hosts
    assert next((a.ns, str(a.address)) for a in plan.addrs) == (ROOT, "10.1.0.254/24")


def test_a_veth_request_puts_each_end_in_its_namespace() -> None:
    plan = make_plan(spec("pair"))
    v = plan.veths[0]
    msg = ifinfmsg(netlink.veth(v, {ROOT: 1, "alpha": 4242, "beta": 4343}).data)
    msg.decode()
    assert (msg["index"], msg.get_attr("IFLA_IFNAME")) == (v.a.index, "alpha-eth0")
    assert msg.get_attr("IFLA_MASTER") == plan.bridges[0].dev.index
    assert msg.get_attr("IFLA_NET_NS_PID") is None  # the bridge side stays in the root
    assert msg["flags"] & netlink.IFF_UP
    peer = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "VETH_INFO_PEER")
    assert (peer["index"], peer.get_attr("IFLA_IFNAME")) == (v.b.index, "eth0")
    assert peer.get_attr("IFLA_NET_NS_PID") == 4242
    assert peer["flags"] == 0  # brought up later, in its own namespace


def test_a_macvlan_request_goes_to_the_parents_namespace() -> None:
    plan = make_plan(spec("macvlan"))
    c1 = next(s for s in plan.subifs if s.dev.ns == "c1")
    msg = ifinfmsg(netlink.subif(c1, {ROOT: 1, "c1": 77, "host": 78}).data)
    msg.decode()
    assert c1.parent.ns == "host"
    assert msg.get_attr("IFLA_LINK") == c1.parent.index
    assert msg.get_attr("IFLA_NET_NS_PID") == 77
    data = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    assert data.get_attr("IFLA_MACVLAN_MODE") in ("bridge", 4)
