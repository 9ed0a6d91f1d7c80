"""Where each node of a lab lives: a YAML inventory, a saved ssh config, or ``vagrant:DIR``."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from ...errors import LabbookError, ProviderError, SpecError, UsageError
from ...masking import host_password, mask_host
from ...spec import yamlmarks

#: Keys of a node entry (and of ``defaults``) in a YAML inventory.
NODE_KEYS = (
    "host",
    "port",
    "user",
    "identity_file",
    "jump",
    "proxy_command",
    "known_hosts",
    "interfaces",
    "options",
)
TOP_KEYS = ("defaults", "nodes", "insecure")
PATH_KEYS = ("identity_file", "known_hosts")

#: A ``Host`` line of an ssh config file (what tells it apart from YAML).
HOST_LINE = re.compile(r"^[ \t]*Host(?:[ \t]*=[ \t]*|[ \t]+)(\S.*)$", re.I | re.M)
#: ``ssh -G`` complaining about a config line: "FILE: line N: message".
SSH_CONFIG_ERROR = re.compile(r"^(?P<file>.+?):? line (?P<line>\d+): (?P<msg>.+)$")
#: What ``ssh -G`` prints that we keep (lower-case keys).
SSH_G_KEYS = (
    "hostname",
    "user",
    "port",
    "identityfile",
    "userknownhostsfile",
    "stricthostkeychecking",
    "proxyjump",
    "proxycommand",
)


class InventoryError(LabbookError):
    """An inventory is malformed or lacks a node (exit code 2); one line per problem."""

    exit_code = 2

    def __init__(self, problems: list[SpecError]) -> None:
        self.problems = sorted(problems, key=lambda e: (e.file or "", e.line or 0))
        first = self.problems[0]
        super().__init__(
            "\n".join(_line(p) for p in self.problems), file=first.file, line=first.line
        )

    def __str__(self) -> str:
        return self.message


def _line(p: SpecError) -> str:
    loc = ":".join(str(x) for x in (p.file, p.line) if x is not None)
    return f"{loc}: {p.message}" if loc else p.message


@dataclass(frozen=True)
class HostEntry:
    """How to reach one node. ``config_file`` set: ``host`` is an alias in that ssh config."""

    node: str
    host: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    jump: str | None = None
    proxy_command: str | None = None
    known_hosts: str | None = None
    interfaces: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    config_file: str | None = None
    strict_host_key_checking: str | None = None  # what an ssh config says, if anything
    line: int | None = None

    def iface(self, spec_name: str) -> str:
        """The node's real name of the interface the spec calls ``spec_name``."""
        return dict(self.interfaces).get(spec_name, spec_name)

    @property
    def address(self) -> str:
        """``user@host:port`` for messages."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return mask_host(f"{user}{self.host}{port}")


@dataclass(frozen=True)
class Inventory:
    """Every node's entry, and where they were read from."""

    source: str
    entries: dict[str, HostEntry] = field(default_factory=dict)
    node_line: int | None = None  # the line to point at when a node is missing
    insecure: bool = False  # ``insecure: true``: host keys are not checked

    def entry(self, node: str) -> HostEntry:
        return self.entries[node]

    def check_nodes(self, nodes: tuple[str, ...]) -> None:
        """Raise :class:`InventoryError` naming every node of the lab that has no entry."""
        missing = [n for n in nodes if n not in self.entries]
        if not missing:
            return
        if self.entries and next(iter(self.entries.values())).config_file:
            hint = "add a 'Host NAME' block with its HostName for each"
        else:
            hint = "add an entry under 'nodes:', e.g. '  NAME: {host: 192.0.2.10}'"
        have = ", ".join(sorted(self.entries)) or "none"
        raise InventoryError(
            [
                SpecError(
                    f"no entry for node{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)} of the lab (the inventory has: {have}); {hint}",
                    file=self.source,
                    line=self.node_line,
                )
            ]
        )


def inventory_digest(value: str) -> str:
    """A hash of the inventory's text (part of cache keys); empty if it cannot be read."""
    if value.startswith("vagrant:"):
        return value
    try:
        with open(value, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return ""


def load_inventory(value: str, workdir: str) -> Inventory:
    """Read the inventory ``value`` names: a file (YAML or ssh config) or ``vagrant:DIR``.

    ``workdir`` is a private directory where a ``vagrant ssh-config`` is saved.
    """
    if value.startswith("vagrant:"):
        return _from_vagrant(value[len("vagrant:") :], workdir)
    try:
        text = yamlmarks.read_text(value)
    except SpecError as exc:
        raise InventoryError([exc]) from None
    except FileNotFoundError:
        raise UsageError(
            f"{value}: inventory not found; give a YAML inventory, a saved "
            "ssh config or vagrant:DIR"
        ) from None
    except OSError as exc:
        raise UsageError(f"{value}: cannot read the inventory: {exc.strerror or exc}") from None
    if is_ssh_config(text):
        return parse_ssh_config(value, text)
    return parse_yaml(value, text)


def is_ssh_config(text: str) -> bool:
    """True when ``text`` has ``Host`` blocks (YAML would write ``Host:``)."""
    return any(not m.group(1).startswith(":") for m in HOST_LINE.finditer(text))


# -- YAML ---------------------------------------------------------------------------------
def parse_yaml(path: str, text: str) -> Inventory:
    """Validate a YAML inventory; every problem is reported at once with its line."""
    try:
        marked, errors = yamlmarks.load(text, path)
    except SpecError as exc:
        raise InventoryError([exc]) from None
    v = _YamlValidator(path, marked)
    entries = v.build()
    problems = [*errors, *v.errors]
    if problems:
        raise InventoryError(problems)
    return Inventory(path, entries, v.line(("nodes",), key=True), v.insecure)


class _YamlValidator:
    def __init__(self, path: str, marked: yamlmarks.Marked) -> None:
        self.path = path
        self.m = marked
        self.base = os.path.dirname(os.path.abspath(path))
        self.errors: list[SpecError] = []
        self.insecure = False

    def line(self, p: tuple[Any, ...], key: bool = False) -> int:
        return (self.m.key_mark(p) if key else self.m.mark(p)).line

    def error(self, p: tuple[Any, ...], message: str, key: bool = False) -> None:
        self.errors.append(SpecError(message, file=self.path, line=self.line(p, key)))

    def build(self) -> dict[str, HostEntry]:
        data = self.m.data
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
            self.error(
                ("nodes",) if isinstance(data, dict) else (),
                "an inventory is a mapping with 'nodes:' (node name: {host: ADDRESS, "
                "user: ..., identity_file: ...}) and optional 'defaults:'",
            )
            return {}
        self._unknown((), data, TOP_KEYS)
        if not isinstance(data.get("insecure", False), bool):
            self.error(
                ("insecure",),
                "'insecure' is true (host keys are not checked: for throwaway labs) or false",
            )
        self.insecure = data.get("insecure") is True
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            self.error(("defaults",), "'defaults' must be a mapping of node settings")
            defaults = {}
        self._unknown(("defaults",), defaults, tuple(k for k in NODE_KEYS if k != "host"))
        entries = {}
        for node, raw in data["nodes"].items():
            if not isinstance(raw, dict):
                self.error(
                    ("nodes", node),
                    f"node '{node}' must be a mapping, e.g. {{host: 192.0.2.10, user: root}}",
                )
                continue
            self._unknown(("nodes", node), raw, NODE_KEYS)
            entry = self._entry(node, {**defaults, **raw}, raw)
            if entry is not None:
                entries[node] = entry
        return entries

    def _unknown(self, p: tuple[Any, ...], d: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in d:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"write one of: {', '.join(allowed)}"
            self.error((*p, key), f"unknown key '{key}'; {hint}", key=True)

    def _where(self, node: str, key: str, raw: dict[str, Any]) -> tuple[Any, ...]:
        return ("nodes", node, key) if key in raw else ("defaults", key)

    def _entry(self, node: str, d: dict[str, Any], raw: dict[str, Any]) -> HostEntry | None:
        n_errors = len(self.errors)
        if not isinstance(raw.get("host"), str) or not raw["host"]:
            self.error(
                ("nodes", node),
                f"node '{node}' needs 'host:' (an address or name to reach it by ssh)",
            )
        for key in ("host", "jump"):
            value = d.get(key)
            if isinstance(value, str) and host_password(value):
                self.error(
                    self._where(node, key, raw),
                    f"node '{node}': '{key}: {mask_host(value)}' holds a password, which ssh "
                    "never takes there; write the address alone and 'user: NAME', and log in "
                    "with a key ('identity_file: PATH')",
                )
        strings = {}
        for key in ("user", "identity_file", "jump", "proxy_command", "known_hosts"):
            value = d.get(key)
            if value is not None and not isinstance(value, str):
                self.error(self._where(node, key, raw), f"'{key}' must be a string")
            elif value is not None:
                strings[key] = self._path(value) if key in PATH_KEYS else value
        if "jump" in strings and "proxy_command" in strings:
            self.error(
                self._where(node, "proxy_command", raw),
                "give 'jump' or 'proxy_command', not both (ssh would use only the first)",
            )
        port = d.get("port")
        if port is not None and (
            not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
        ):
            self.error(self._where(node, "port", raw), "'port' must be a number from 1 to 65535")
        interfaces = self._pairs(node, "interfaces", d, raw)
        options = self._pairs(node, "options", d, raw)
        if len(self.errors) > n_errors:
            return None
        return HostEntry(
            node=node,
            host=raw["host"],
            port=port,
            interfaces=interfaces,
            options=options,
            line=self.line(("nodes", node), key=True),
            **strings,
        )

    def _pairs(
        self, node: str, key: str, d: dict[str, Any], raw: dict[str, Any]
    ) -> tuple[tuple[str, str], ...]:
        value = d.get(key) or {}
        ok = isinstance(value, dict) and all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value.values()
        )
        if not ok:
            example = "{eth0: ens3}" if key == "interfaces" else "{ServerAliveInterval: 5}"
            self.error(self._where(node, key, raw), f"'{key}' must be a mapping like {example}")
            return ()
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))

    def _path(self, value: str) -> str:
        return os.path.join(self.base, os.path.expanduser(value))


# -- ssh config ---------------------------------------------------------------------------
def host_aliases(text: str) -> dict[str, int]:
    """Plain host names of ``Host`` lines (no patterns), with the line of each."""
    aliases: dict[str, int] = {}
    for m in HOST_LINE.finditer(text):
        lineno = text.count("\n", 0, m.start()) + 1
        for name in m.group(1).split("#", 1)[0].split():
            if not any(c in name for c in "*?!") and name not in aliases:
                aliases[name.strip('"')] = lineno
    return aliases


def parse_ssh_config(path: str, text: str, source: str | None = None) -> Inventory:
    """Entries for every plain ``Host`` alias, as OpenSSH itself resolves them (``ssh -G``)."""
    source = source or path
    config = os.path.abspath(path)
    entries = {}
    for alias, lineno in host_aliases(text).items():
        resolved = resolve_alias(config, alias, source)
        entries[alias] = HostEntry(
            node=alias,
            host=alias,
            config_file=config,
            line=lineno,
            user=resolved.get("user"),
            port=int(resolved["port"]) if resolved.get("port", "").isdigit() else None,
            strict_host_key_checking=resolved.get("stricthostkeychecking"),
            known_hosts=resolved.get("userknownhostsfile"),
            jump=resolved.get("proxyjump"),
            proxy_command=resolved.get("proxycommand"),
        )
    if not entries:
        raise InventoryError(
            [
                SpecError(
                    "no 'Host NAME' block names a node; write one per node of the lab",
                    file=source,
                    line=1,
                )
            ]
        )
    return Inventory(source, entries, 1)


def resolve_alias(config: str, alias: str, source: str) -> dict[str, str]:
    """``ssh -F CONFIG -G ALIAS``: the options OpenSSH would use, config errors located."""
    p = subprocess.run(
        ["ssh", "-F", config, "-G", alias],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if p.returncode != 0:
        problems = []
        for line in p.stderr.splitlines():
            m = SSH_CONFIG_ERROR.match(line)
            if m:
                where = source if os.path.abspath(m["file"]) == config else m["file"]
                problems.append(SpecError(m["msg"], file=where, line=int(m["line"])))
        raise InventoryError(
            problems
            or [
                SpecError(
                    f"ssh cannot read this config: {p.stderr.strip() or p.returncode}", file=source
                )
            ]
        )
    out: dict[str, str] = {}
    for line in p.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key in SSH_G_KEYS and key not in out:
            out[key] = value
    if out.get("hostname") and out["hostname"] != alias:
        out["host"] = out["hostname"]
    return out


def _from_vagrant(directory: str, workdir: str) -> Inventory:
    """Run ``vagrant ssh-config`` in ``directory`` and read what it prints."""
    directory = os.path.abspath(directory or ".")
    if not os.path.isdir(directory):
        raise UsageError(
            f"vagrant:{directory}: no such directory; give the directory that holds the Vagrantfile"
        )
    if shutil.which("vagrant") is None:
        raise UsageError(
            "vagrant is not installed; install it, or save the output of "
            "'vagrant ssh-config' to a file and give that file as the inventory"
        )
    p = subprocess.run(
        ["vagrant", "ssh-config"],
        cwd=directory,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if p.returncode != 0:
        why = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"
        raise ProviderError(
            f"vagrant ssh-config in {directory} failed ({why}); are the machines up ('vagrant up')?"
        )
    saved = os.path.join(workdir, "vagrant-ssh-config")
    with open(saved, "w", encoding="utf-8") as f:
        f.write(p.stdout)
    return parse_ssh_config(saved, p.stdout, source=f"vagrant:{directory}")
