"""ssh provider: a node's real interfaces (``ip -j addr`` on this machine) against its spec."""

from __future__ import annotations

import json
import subprocess

from sphinxext.labbook.providers.ssh.inventory import HostEntry
from sphinxext.labbook.providers.ssh.topology import IP_ADDR, drift
from sphinxext.labbook.spec import parse_spec


def host_ip_json() -> str:
    """What ``ip -j addr show`` prints on this machine (its loopback is always there)."""
    return subprocess.run(IP_ADDR, capture_output=True, text=True, check=True).stdout


def node_of(text: str):
    spec = parse_spec(text, "/labs/host.yaml")
    return spec.nodes[0]


def test_what_the_node_has_is_no_drift():
    node = node_of("name: host\nnodes:\n  gw:\n    interfaces:\n      lo: {address: 127.0.0.1/8}\n")
    assert drift(node, HostEntry("gw", "192.0.2.1"), host_ip_json()) == []


def test_missing_address_mtu_and_interface_are_drift_at_their_spec_line():
    node = node_of(
        "name: host\nnodes:\n  gw:\n    interfaces:\n"
        "      lo: {addresses: [127.0.0.1/8, 10.99.0.1/24], mtu: 1280}\n"
        "      eth7: {address: 10.98.0.1/24}\n"
    )
    real = host_ip_json()
    lo = next(x for x in json.loads(real) if x["ifname"] == "lo")
    lines = drift(node, HostEntry("gw", "192.0.2.1"), real)
    assert lines[0].startswith(
        "/labs/host.yaml:5: node gw: interface lo lacks address 10.99.0.1/24 (it has: 127.0.0.1/8"
    )
    assert lines[1] == (
        f"/labs/host.yaml:5: node gw: interface lo has mtu {lo['mtu']}, the spec says 1280"
    )
    assert lines[2].startswith(
        "/labs/host.yaml:6: node gw: interface eth7 is missing (the node has: "
    )
    assert len(lines) == 3


def test_inventory_maps_interface_names():
    node = node_of(
        "name: host\nnodes:\n  gw:\n    interfaces:\n      lan9: {address: 127.0.0.1/8}\n"
    )
    entry = HostEntry("gw", "192.0.2.1", interfaces=(("lan9", "lo"),))
    assert drift(node, entry, host_ip_json()) == []
    lines = drift(node, HostEntry("gw", "192.0.2.1"), host_ip_json())
    assert len(lines) == 1 and "interface lan9 is missing" in lines[0]


def test_unreadable_output_is_reported():
    node = node_of(
        "name: host\nnodes:\n  gw:\n    interfaces:\n      eth0: {address: 10.0.0.1/24}\n"
    )
    assert (
        "cannot read the output of 'ip -j addr show'"
        in drift(node, HostEntry("gw", "192.0.2.1"), "ip: command not found")[0]
    )
