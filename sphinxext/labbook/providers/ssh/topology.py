"""Compare the interfaces and addresses a node really has with what the lab spec says."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from ...spec.model import Interface, Loc, Node
from .inventory import HostEntry

#: The command whose JSON output is compared (iproute2 >= 4.13 everywhere we care about).
IP_ADDR = ["ip", "-j", "addr", "show"]


def drift(node: Node, entry: HostEntry, ip_json: str) -> list[str]:
    """One line per difference between ``node``'s spec and ``ip -j addr`` on the node.

    Only what the spec names is checked: machines have management interfaces and
    addresses the lab does not describe, and those are not drift.
    """
    try:
        links = {link["ifname"]: link for link in json.loads(ip_json or "[]")}
    except (ValueError, TypeError, KeyError):
        return [f"{_at(node.loc)}node {node.name}: cannot read the output of '{' '.join(IP_ADDR)}'"]
    out: list[str] = []
    for iface in node.interfaces:
        real = entry.iface(iface.name)
        link = links.get(real)
        named = iface.name if real == iface.name else f"{iface.name} ({real} on the node)"
        where = f"{_at(iface.loc or node.loc)}node {node.name}: interface {named}"
        if link is None:
            have = ", ".join(sorted(links)) or "none"
            out.append(
                f"{where} is missing (the node has: {have}); map names in the "
                "inventory with 'interfaces: {SPEC: REAL}'"
            )
            continue
        out += [f"{where} {d}" for d in _differences(iface, link)]
    return out


def _at(loc: Loc | None) -> str:
    """``spec.yaml:7: `` -- where the spec says what the node lacks."""
    return f"{loc.file}:{loc.line}: " if loc else ""


def _differences(iface: Interface, link: dict[str, Any]) -> list[str]:
    have = _addresses(link)
    out = []
    for want in iface.addresses:
        if want not in have:
            shown = ", ".join(str(a) for a in sorted(have, key=_sort_key)) or "none"
            out.append(f"lacks address {want} (it has: {shown})")
    if iface.mtu is not None and link.get("mtu") != iface.mtu:
        out.append(f"has mtu {link.get('mtu')}, the spec says {iface.mtu}")
    mac = str(link.get("address", "")).lower()
    if iface.mac is not None and mac != iface.mac.lower():
        out.append(f"has MAC {mac or 'none'}, the spec says {iface.mac.lower()}")
    if iface.up and "UP" not in link.get("flags", []):
        out.append("is down, the spec says up")
    return out


def _addresses(link: dict[str, Any]) -> set[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    found = set()
    for info in link.get("addr_info", []):
        try:
            found.add(ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}"))
        except (KeyError, ValueError):
            continue
    return found


def _sort_key(a: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> tuple[int, str]:
    return (a.version, str(a))
