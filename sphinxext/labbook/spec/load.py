"""Load a lab spec from YAML, validate it, and report every problem with its place."""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.resources
import ipaddress
import json
import os
from collections.abc import Iterator
from typing import Any

import jsonschema

from ..errors import SpecError, SpecErrors
from . import yamlmarks
from .model import (
    DEFAULT_WRITABLE,
    IFNAMSIZ,
    MIN_WRITABLE,
    Endpoint,
    Interface,
    LabSpec,
    Link,
    Loc,
    Network,
    Node,
    Route,
    size_bytes,
)


@functools.cache
def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the lab format."""
    text = importlib.resources.files(__package__).joinpath("lab.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def load_spec(path: str | os.PathLike[str]) -> LabSpec:
    """Read and validate the spec at ``path``; raise :class:`SpecErrors` listing every problem."""
    filename = os.fspath(path)
    try:
        text = yamlmarks.read_text(filename)
    except SpecError as exc:  # not UTF-8: at the line of the first bad byte
        raise SpecErrors([exc]) from None
    except FileNotFoundError:
        raise SpecErrors(
            [
                SpecError(
                    "lab spec not found; check the path "
                    "(relative paths are relative to the document or "
                    "the current directory)",
                    file=filename,
                )
            ]
        ) from None
    except OSError as exc:
        raise SpecErrors(
            [SpecError(f"cannot read lab spec: {exc.strerror or exc}", file=filename, line=1)]
        ) from None
    return parse_spec(text, filename)


def parse_spec(text: str, filename: str = "<string>") -> LabSpec:
    """Validate YAML ``text`` and build a :class:`LabSpec`."""
    try:
        marked, errors = yamlmarks.load(text, filename)
    except SpecError as exc:
        raise SpecErrors([exc]) from None
    v = _Validator(marked, filename)
    if not isinstance(marked.data, dict):
        v.error((), "a lab spec is a mapping with 'name', 'networks' and 'nodes'")
        raise SpecErrors([*errors, *v.errors])
    v.check_schema()
    spec = v.build(hashlib.sha256(text.encode()).hexdigest())
    all_errors = [*errors, *v.errors]
    if all_errors or spec is None:
        raise SpecErrors(all_errors)
    return spec


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(sorted(choices))}" if choices else ""


def _where(path: tuple[Any, ...]) -> str:
    """Human words for a path: ``node 'alpha' interface 'eth0'``."""
    words: list[str] = []
    names = {
        "nodes": "node",
        "networks": "network",
        "interfaces": "interface",
        "links": "link",
        "routes": "route",
        "sysctls": "sysctl",
    }
    it = iter(path)
    for part in it:
        if part in names:
            nxt = next(it, None)
            if nxt is None:
                words.append(f"'{part}'")
            elif isinstance(nxt, int):
                words.append(f"{names[part]} #{nxt + 1}")
            else:
                words.append(f"{names[part]} '{nxt}'")
        elif isinstance(part, str):
            words.append(f"'{part}'")
    return " ".join(words) if words else "the lab"


class _Validator:
    def __init__(self, marked: yamlmarks.Marked, filename: str) -> None:
        self.m = marked
        self.file = filename
        self.errors: list[SpecError] = []

    # -- reporting -----------------------------------------------------------------
    def loc(self, path: tuple[Any, ...], key: bool = False) -> Loc:
        mark = self.m.key_mark(path) if key else self.m.mark(path)
        return Loc(self.file, mark.line, mark.column)

    def error(self, path: tuple[Any, ...], message: str, key: bool = False) -> None:
        loc = self.loc(path, key)
        self.errors.append(SpecError(message, file=self.file, line=loc.line, column=loc.column))

    # -- structure (JSON Schema) ----------------------------------------------------
    def check_schema(self) -> None:
        validator = jsonschema.Draft202012Validator(json_schema())
        for err in sorted(validator.iter_errors(self.m.data), key=lambda e: list(map(str, e.path))):
            self._schema_error(err)

    def _schema_error(self, err: jsonschema.ValidationError) -> None:
        path = tuple(err.absolute_path)
        where = _where(path)
        schema = err.schema if isinstance(err.schema, dict) else {}
        if err.validator == "additionalProperties":
            allowed = list(schema.get("properties", {}))
            extra = [k for k in err.instance if k not in allowed]
            for key in extra:
                self.error(
                    (*path, key),
                    f"unknown key '{key}' in {where}{_did_you_mean(key, allowed)}",
                    key=True,
                )
        elif err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            self.error(path, f"{where} needs '{missing}'")
        elif err.validator == "propertyNames":
            bad = err.instance
            self.error(
                (*path, bad),
                f"bad name '{bad}' in {where}: use lower-case letters, "
                "digits, '-' (start with a letter)",
                key=True,
            )
        elif err.validator in ("pattern", "type") and path == ("limits", "writable"):
            self.error(
                path,
                f"limits: writable: {str(err.instance)!r} is not a size; write a whole number "
                "with K, M or G, for example 256M or 1G",
            )
        elif err.validator == "pattern" and path == ("name",):
            self.error(
                path,
                f"bad lab name {err.instance!r}: use 1-24 lower-case letters, "
                "digits and '-', for example 'pair'",
            )
        elif err.validator == "enum":
            choices = ", ".join(str(c) for c in err.validator_value)
            self.error(path, f"{where}: {err.instance!r} is not allowed; write one of: {choices}")
        elif err.validator == "type":
            want = err.validator_value
            want = want if isinstance(want, list) else [want]
            words = {
                "object": "a mapping (key: value)",
                "array": "a list",
                "string": "a string",
                "integer": "a whole number",
                "boolean": "true or false",
                "null": "empty",
            }
            self.error(
                path,
                f"{where} must be "
                + " or ".join(words.get(str(w), str(w)) for w in want)
                + f", not {type(err.instance).__name__}",
            )
        elif err.validator in ("minimum", "maximum", "minItems", "maxItems"):
            self.error(path, f"{where}: {err.message}")
        elif err.validator == "pattern":
            self.error(
                path,
                f"{where}: {err.instance!r} has the wrong form "
                f"(expected to match {err.validator_value})",
            )
        else:  # pragma: no cover - validators the schema does not use today
            self.error(path, f"{where}: {err.message}")

    # -- semantics ------------------------------------------------------------------
    def build(self, digest: str) -> LabSpec | None:
        """Build the model and check what the schema cannot; ``None`` if it cannot be built.

        Elements the schema already rejected are skipped here (their error is reported),
        so one run reports every problem of the file.
        """
        data = self.m.data
        networks = tuple(self._each(data.get("networks"), self._network))
        net_by_name = {n.name: n for n in networks}
        nodes = tuple(self._each(data.get("nodes"), lambda n, d: self._node(n, d, net_by_name)))
        raw_links = data.get("links")
        try:
            links = tuple(self._links(raw_links if isinstance(raw_links, list) else [], nodes))
            self._cross_checks(networks, nodes, links)
        except (TypeError, KeyError, AttributeError, ValueError):
            if not self.errors:
                raise
            return None
        if self.errors or not isinstance(data.get("name"), str):
            return None
        return LabSpec(
            name=data["name"],
            path=self.file,
            digest=digest,
            description=data.get("description", ""),
            writable=self._writable(data.get("limits")),
            networks=networks,
            nodes=nodes,
            links=links,
        )

    def _writable(self, limits: Any) -> str:
        size = limits.get("writable") if isinstance(limits, dict) else None
        if not isinstance(size, str):
            return DEFAULT_WRITABLE
        if size_bytes(size) < MIN_WRITABLE:
            self.error(
                ("limits", "writable"),
                f"limits: writable: {size} is too small for a node; write at least 4M",
            )
        return size

    def _each(self, section: Any, build: Any) -> Iterator[Any]:
        if not isinstance(section, dict):
            return
        for name, d in section.items():
            try:
                yield build(name, d or {})
            except (TypeError, KeyError, AttributeError, ValueError):
                if not self.errors:  # the schema let it through: a real bug, show it
                    raise

    def _cidr(self, path: tuple[Any, ...], value: str) -> Any:
        try:
            return ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            hint = ""
            try:
                hint = f"; did you mean {ipaddress.ip_network(value, strict=False)}?"
            except ValueError:
                hint = "; write it like 10.0.0.0/24"
            self.error(path, f"bad CIDR {value!r} ({exc}){hint}")
            return None

    def _iface_addr(self, path: tuple[Any, ...], value: str) -> Any:
        try:
            if "/" not in str(value):
                raise ValueError("no prefix length")
            return ipaddress.ip_interface(value)
        except ValueError:
            self.error(
                path,
                f"bad address {value!r}; write an address with its prefix length, like 10.0.0.1/24",
            )
            return None

    def _network(self, name: str, d: dict[str, Any]) -> Network:
        p = ("networks", name)
        cidr = self._cidr((*p, "cidr"), d["cidr"]) if "cidr" in d else None
        addr = self._iface_addr((*p, "address"), d["address"]) if "address" in d else None
        if addr is not None and cidr is not None and addr.ip not in cidr:
            self.error(
                (*p, "address"), f"address {addr} of network '{name}' is outside its cidr {cidr}"
            )
        return Network(
            name=name,
            cidr=cidr,
            kind=d.get("kind", "bridge"),
            address=addr,
            hairpin=bool(d.get("hairpin", False)),
            mtu=d.get("mtu"),
            vlan_filtering=bool(d.get("vlan_filtering", False)),
            loc=self.loc(p, key=True),
        )

    def _endpoint(self, path: tuple[Any, ...], value: str, node: str | None) -> Endpoint | None:
        if ":" in value:
            n, _, i = value.partition(":")
            if n and i:
                return Endpoint(n, i)
        elif node is not None and value:
            return Endpoint(node, value)
        self.error(path, f"bad interface reference {value!r}; write NODE:IFACE, like 'host:eth0'")
        return None

    def _node(self, name: str, d: dict[str, Any], nets: dict[str, Network]) -> Node:
        p = ("nodes", name)
        ifaces = []
        for iname, idata in (d.get("interfaces") or {}).items():
            ifaces.append(self._interface(name, iname, idata or {}, nets))
        routes = []
        if "gateway" in d:
            via = self._ip((*p, "gateway"), d["gateway"])
            routes.append(Route(to="default", via=via, loc=self.loc((*p, "gateway"))))
        for i, r in enumerate(d.get("routes") or []):
            rp = (*p, "routes", i)
            to = r["to"]
            if to != "default":
                self._cidr((*rp, "to"), to)
            via = self._ip((*rp, "via"), r["via"]) if "via" in r else None
            if via is None and "dev" not in r and "via" not in r:
                self.error(rp, f"route to {to} needs 'via' (a gateway address) or 'dev'")
            routes.append(Route(to=to, via=via, dev=r.get("dev"), loc=self.loc(rp)))
        sysctls = []
        for key, val in (d.get("sysctls") or {}).items():
            if not key.startswith("net."):
                self.error(
                    (*p, "sysctls", key),
                    f"sysctl '{key}' is not per-namespace; only "
                    "net.* sysctls can be set on a node (use the vm provider for others)",
                    key=True,
                )
            val = int(val) if isinstance(val, bool) else val
            sysctls.append((key, str(val)))
        raw_packages = d.get("packages")
        packages: list[str] = raw_packages if isinstance(raw_packages, list) else []
        for i, pkg in enumerate(packages):
            if pkg in packages[:i]:
                self.error((*p, "packages", i), f"package '{pkg}' is listed twice")
        hostname = d.get("hostname", name)
        if len(hostname) > 63:
            self.error((*p, "hostname"), "hostname is longer than 63 characters")
        return Node(
            name=name,
            hostname=hostname,
            network_mode=d.get("network-mode", "own"),
            interfaces=tuple(ifaces),
            routes=tuple(routes),
            sysctls=tuple(sysctls),
            packages=tuple(packages),
            loc=self.loc(p, key=True),
        )

    def _ip(self, path: tuple[Any, ...], value: str) -> Any:
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            self.error(path, f"bad IP address {value!r}; write it like 10.0.0.1")
            return None

    def _interface(
        self, node: str, name: str, d: dict[str, Any], nets: dict[str, Network]
    ) -> Interface:
        p = ("nodes", node, "interfaces", name)
        if len(name) > IFNAMSIZ:
            self.error(
                p,
                f"interface name '{name}' is {len(name)} characters; the kernel "
                f"allows at most {IFNAMSIZ}, for example '{name[:IFNAMSIZ]}'",
                key=True,
            )
        kind = d.get("type", "veth")
        network = d.get("network")
        if network is not None and network not in nets:
            self.error(
                (*p, "network"), f"unknown network '{network}'{_did_you_mean(network, list(nets))}"
            )
        parent = None
        if kind in ("macvlan", "ipvlan", "vlan"):
            if "parent" not in d:
                self.error(p, f"a {kind} interface needs 'parent: IFACE' or 'parent: NODE:IFACE'")
            else:
                parent = self._endpoint((*p, "parent"), d["parent"], node)
            if network is not None:
                self.error(
                    (*p, "network"),
                    f"a {kind} interface takes its segment from its parent; remove 'network'",
                )
        elif "parent" in d:
            self.error(
                (*p, "parent"),
                "'parent' is for type macvlan, ipvlan or vlan; "
                "add 'type: macvlan' (or vlan, ipvlan)",
            )
        if kind == "vlan" and "id" not in d:
            self.error(p, "a vlan interface needs 'id: N' (1-4094)")
        if "id" in d and kind != "vlan":
            self.error((*p, "id"), "'id' is for type vlan; add 'type: vlan'")
        mode = d.get("mode")
        if mode is not None:
            ok = {
                "macvlan": ("bridge", "private", "vepa", "passthru"),
                "ipvlan": ("l2", "l3", "l3s"),
            }.get(kind, ())
            if mode not in ok:
                self.error(
                    (*p, "mode"),
                    f"mode '{mode}' does not fit type {kind}"
                    + (
                        f"; write one of: {', '.join(ok)}"
                        if ok
                        else "; only macvlan and ipvlan take a mode"
                    ),
                )
        addrs = []
        raw = ([d["address"]] if "address" in d else []) + list(d.get("addresses") or [])
        for i, a in enumerate(raw):
            ap = (
                (*p, "address")
                if ("address" in d and i == 0)
                else (*p, "addresses", i - (1 if "address" in d else 0))
            )
            addr = self._iface_addr(ap, a)
            if addr is None:
                continue
            net = nets.get(network) if network else None
            if net is not None and net.cidr is not None and addr.ip not in net.cidr:
                self.error(ap, f"address {addr} is outside network '{network}' ({net.cidr})")
            addrs.append(addr)
        return Interface(
            name=name,
            node=node,
            type=kind,
            network=network,
            parent=parent,
            mode=mode
            if mode is not None
            else ("bridge" if kind == "macvlan" else "l2" if kind == "ipvlan" else None),
            vlan_id=d.get("id"),
            access_vlan=d.get("vlan"),
            addresses=tuple(addrs),
            mac=d.get("mac"),
            mtu=d.get("mtu"),
            up=d.get("up", True),
            loc=self.loc(p, key=True),
        )

    def _links(self, raw: list[dict[str, Any]], nodes: tuple[Node, ...]) -> Iterator[Link]:
        for i, d in enumerate(raw):
            p = ("links", i)
            eps = [
                self._endpoint((*p, "endpoints", j), v, None) for j, v in enumerate(d["endpoints"])
            ]
            if eps[0] is None or eps[1] is None:
                continue
            if eps[0] == eps[1]:
                self.error(
                    (*p, "endpoints"),
                    f"a link joins two different interfaces, not {eps[0]} to itself",
                )
                continue
            yield Link(a=eps[0], b=eps[1], mtu=d.get("mtu"), loc=self.loc(p))

    def _cross_checks(
        self, networks: tuple[Network, ...], nodes: tuple[Node, ...], links: tuple[Link, ...]
    ) -> None:
        by_node = {n.name: n for n in nodes}
        node_names = list(by_node)
        # links: endpoints exist (or are declared by the link), used once
        used: dict[Endpoint, Link] = {}
        for link in links:
            for ep, j in ((link.a, 0), (link.b, 1)):
                ep_path = ("links", links.index(link), "endpoints", j)
                node = by_node.get(ep.node)
                if node is None:
                    self.error(
                        ep_path,
                        f"unknown node '{ep.node}' in link{_did_you_mean(ep.node, node_names)}",
                    )
                    continue
                iface = node.interface(ep.iface)
                if iface is not None and (iface.network or iface.type != "veth"):
                    self.error(
                        ep_path,
                        f"interface {ep} is already a {iface.type} "
                        + (f"on network '{iface.network}'" if iface.network else "")
                        + "; a link needs an interface of its own",
                    )
                if len(ep.iface) > IFNAMSIZ:
                    self.error(
                        ep_path, f"interface name '{ep.iface}' is longer than {IFNAMSIZ} characters"
                    )
                if ep in used:
                    self.error(
                        ep_path, f"interface {ep} is in two links; each interface joins one link"
                    )
                used[ep] = link
        # parents exist; host-mode nodes
        for node in nodes:
            for iface in node.interfaces:
                p = ("nodes", node.name, "interfaces", iface.name)
                if iface.parent is None:
                    continue
                owner = by_node.get(iface.parent.node)
                if owner is None:
                    self.error(
                        (*p, "parent"),
                        f"unknown node '{iface.parent.node}'"
                        f"{_did_you_mean(iface.parent.node, node_names)}",
                    )
                    continue
                linked = iface.parent in used
                if owner.interface(iface.parent.iface) is None and not linked:
                    choices = [i.name for i in owner.interfaces]
                    hint = _did_you_mean(iface.parent.iface, choices)
                    self.error(
                        (*p, "parent"),
                        f"node '{owner.name}' has no interface '{iface.parent.iface}'{hint}",
                    )
                if iface.type == "macvlan" and iface.mode == "passthru":
                    others = [
                        o
                        for n in nodes
                        for o in n.interfaces
                        if o is not iface and o.parent == iface.parent
                    ]
                    if others:
                        self.error(
                            p,
                            f"macvlan passthru takes the whole of {iface.parent}; "
                            f"'{others[0].node}:{others[0].name}' uses it too",
                        )
            if node.shares_root and not node.interfaces and node.name not in {e.node for e in used}:
                pass
        # addresses used twice
        seen: dict[Any, tuple[str, str]] = {}
        for net in networks:
            if net.address is not None:
                seen[net.address.ip] = ("network", net.name)
        for node in nodes:
            for iface in node.interfaces:
                for j, addr in enumerate(iface.addresses):
                    if addr.ip in seen:
                        what, who = seen[addr.ip]
                        self.error(
                            self._address_path(node.name, iface.name, j),
                            f"address {addr.ip} is used twice (also by {what} '{who}'); "
                            "give each interface its own address",
                        )
                    else:
                        seen[addr.ip] = ("interface", f"{node.name}:{iface.name}")

    def _address_path(self, node: str, iface: str, j: int) -> tuple[Any, ...]:
        """Where the j-th address of an interface was written: 'address' comes first."""
        p = ("nodes", node, "interfaces", iface)
        raw = self.m.data["nodes"][node]["interfaces"][iface] or {}
        if "address" in raw:
            return (*p, "address") if j == 0 else (*p, "addresses", j - 1)
        return (*p, "addresses", j)
