"""Serve the nodes of a netns lab over ssh: one sshd per node, for trying the ssh provider."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

import yaml

from ...errors import ProviderError
from ..base import Lab

SSHD = "/usr/sbin/sshd"
#: Inside each node (its /etc and /run are private to it).
CONFIG_DIR = "/etc/ssh/labbook"
PID_FILE = "/run/labbook-sshd.pid"
START_TIMEOUT = 15.0

SSHD_CONFIG = """\
{listen}
Port {port}
HostKey {dir}/ssh_host_ed25519_key
AuthorizedKeysFile {dir}/authorized_keys
PidFile {pid}
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
MaxSessions 100
MaxStartups 100
"""


@dataclass(frozen=True)
class Served:
    """The files that reach the served lab: an inventory and what it points to."""

    directory: str
    inventory: str
    known_hosts: str
    identity_file: str
    addresses: dict[str, str]  # node -> the address its inventory entry uses


def serve(lab: Lab, directory: str, *, port: int = 22, user: str = "root") -> Served:
    """Start sshd in every node of ``lab`` that has an address; write an inventory.

    Each node gets its own host key and an sshd listening on the node's own addresses.
    The nodes live in the lab's namespaces, not in the host's, so the inventory reaches
    each one the way users reach lab VMs through a bastion: a ``proxy_command`` that opens
    the TCP connection from inside the node's network namespace (``nsenter`` + ``socat``).
    Nothing listens on the host and no traffic leaves the lab's namespaces.
    """
    os.makedirs(directory, exist_ok=True)
    key = os.path.join(directory, "id_ed25519")
    if not os.path.exists(key):
        _keygen(key)
    with open(key + ".pub", encoding="utf-8") as f:
        client_pub = f.read()
    known: list[str] = []
    nodes: dict[str, dict[str, str]] = {}
    addresses: dict[str, str] = {}
    for node in lab.spec.nodes:
        ips = [str(a.ip) for i in node.interfaces for a in i.addresses]
        if not ips:
            continue
        host_key = os.path.join(directory, f"host-{node.name}")
        _keygen(host_key)
        _start(lab, node.name, host_key, client_pub, ips, port)
        with open(host_key + ".pub", encoding="utf-8") as f:
            pub = " ".join(f.read().split()[:2])
        known += [f"{ip if port == 22 else f'[{ip}]:{port}'} {pub}" for ip in ips]
        pid = lab.init_pid(node.name)  # type: ignore[attr-defined]
        # the node's user namespace first: it is what lets an ordinary user enter the
        # node's network namespace (root may either way)
        nodes[node.name] = {
            "host": ips[0],
            "proxy_command": f"nsenter -t {pid} -U -n --preserve-credentials socat STDIO TCP:%h:%p",
        }
        addresses[node.name] = ips[0]
    known_hosts = os.path.join(directory, "known_hosts")
    with open(known_hosts, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in known))
    inventory = os.path.join(directory, "inventory.yaml")
    defaults = {"user": user, "identity_file": key, "known_hosts": known_hosts}
    if port != 22:
        defaults["port"] = port  # type: ignore[assignment]
    with open(inventory, "w", encoding="utf-8") as f:
        yaml.safe_dump({"defaults": defaults, "nodes": nodes}, f, sort_keys=False)
    return Served(directory, inventory, known_hosts, key, addresses)


def _keygen(path: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labbook", "-f", path],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


def _start(lab: Lab, node: str, host_key: str, client_pub: str, ips: list[str], port: int) -> None:
    with open(host_key, "rb") as f:
        lab.put(node, f"{CONFIG_DIR}/ssh_host_ed25519_key", f.read(), mode=0o600)
    lab.put(node, f"{CONFIG_DIR}/authorized_keys", client_pub.encode(), mode=0o600)
    listen = "\n".join(f"ListenAddress {ip if ':' not in ip else f'[{ip}]'}" for ip in ips)
    config = SSHD_CONFIG.format(listen=listen, port=port, dir=CONFIG_DIR, pid=PID_FILE)
    lab.put(node, f"{CONFIG_DIR}/sshd_config", config.encode(), mode=0o644)
    # sshd wants its privilege separation directory; systemd makes it on a host. (It
    # reads the keys with StrictModes off: in an ordinary user's lab, / belongs to the
    # host's root, whom the lab's namespace does not map, so / looks like nobody's.)
    lab.exec(node, ["mkdir", "-p", "/run/sshd"])
    res = lab.exec(node, [SSHD, "-f", f"{CONFIG_DIR}/sshd_config"], timeout=START_TIMEOUT)
    if res.rc != 0:
        raise ProviderError(f"sshd did not start on node {node}: {res.output.strip()}")
    # sshd writes its pid file once it listens and has gone to the background.
    deadline = time.monotonic() + START_TIMEOUT
    while lab.exec(node, ["test", "-s", PID_FILE]).rc != 0:
        if time.monotonic() > deadline:
            raise ProviderError(f"sshd on node {node} wrote no pid file within {START_TIMEOUT:g} s")
        time.sleep(0.05)
