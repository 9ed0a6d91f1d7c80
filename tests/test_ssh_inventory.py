"""ssh provider: inventories (YAML, ssh config, vagrant), ssh options, provider options."""

from __future__ import annotations

import itertools
import os
import stat
import textwrap
from pathlib import Path

import pytest

from sphinxext.labbook.errors import UsageError
from sphinxext.labbook.providers import get_provider
from sphinxext.labbook.providers.labstate import lab_dir
from sphinxext.labbook.providers.ssh.inventory import (
    InventoryError,
    is_ssh_config,
    load_inventory,
)
from sphinxext.labbook.providers.ssh.transport import Target
from sphinxext.labbook.spec import parse_spec

#: What `vagrant ssh-config` prints for a two-machine Vagrantfile (libvirt provider).
VAGRANT_SSH_CONFIG = """\
Host alpha
  HostName 192.168.121.10
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/me/lab/.vagrant/machines/alpha/libvirt/private_key
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host beta
  HostName 192.168.121.11
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/me/lab/.vagrant/machines/beta/libvirt/private_key
  IdentitiesOnly yes
  LogLevel FATAL
"""


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def opts(argv: list[str]) -> dict[str, list[str]]:
    """``-o KEY=VALUE`` options of an ssh argv, every value in order."""
    out: dict[str, list[str]] = {}
    for flag, value in itertools.pairwise(argv):
        if flag == "-o":
            key, _, v = value.partition("=")
            out.setdefault(key, []).append(v)
    return out


# -- YAML -----------------------------------------------------------------------------------
def test_yaml_inventory_defaults_paths_and_interface_names(tmp_path):
    inv = load_inventory(
        write(
            tmp_path / "inv.yaml",
            """\
        defaults:
          user: root
          identity_file: keys/id_ed25519
          known_hosts: known_hosts
        nodes:
          alpha: {host: 192.0.2.10, port: 2222, interfaces: {eth0: ens3}}
          beta:
            host: bastion-internal.example
            user: admin
            jump: admin@bastion.example:2200
            options: {ServerAliveInterval: 5}
        """,
        ),
        str(tmp_path),
    )
    alpha, beta = inv.entry("alpha"), inv.entry("beta")
    assert (alpha.host, alpha.port, alpha.user) == ("192.0.2.10", 2222, "root")
    assert alpha.identity_file == str(tmp_path / "keys" / "id_ed25519")
    assert alpha.known_hosts == str(tmp_path / "known_hosts")
    assert alpha.iface("eth0") == "ens3" and alpha.iface("eth1") == "eth1"
    assert (beta.user, beta.jump, beta.port) == ("admin", "admin@bastion.example:2200", None)
    assert beta.options == (("ServerAliveInterval", "5"),)
    assert alpha.address == "root@192.0.2.10:2222"
    assert alpha.line == 6


def test_yaml_inventory_reports_every_problem_with_its_line(tmp_path):
    path = write(
        tmp_path / "inv.yaml",
        """\
        defaults:
          usr: root
        nodes:
          alpha: {hots: 192.0.2.10}
          beta:
            host: 192.0.2.11
            port: 99999
          gamma: just-a-string
          delta: {host: 192.0.2.12, jump: bastion,
                  proxy_command: nc %h %p}
        """,
    )
    with pytest.raises(InventoryError) as err:
        load_inventory(path, str(tmp_path))
    lines = str(err.value).splitlines()
    assert f"{path}:2: unknown key 'usr'; did you mean 'user'?" in lines
    assert f"{path}:4: unknown key 'hots'; did you mean 'host'?" in lines
    assert any(x.startswith(f"{path}:4: node 'alpha' needs 'host:'") for x in lines)
    assert f"{path}:7: 'port' must be a number from 1 to 65535" in lines
    assert any(x.startswith(f"{path}:8: node 'gamma' must be a mapping") for x in lines)
    assert (
        f"{path}:10: give 'jump' or 'proxy_command', not both (ssh would use only the "
        "first)" in lines
    )
    assert err.value.exit_code == 2


def test_yaml_syntax_error_and_wrong_shape(tmp_path):
    with pytest.raises(InventoryError, match=r"inv\.yaml:2: YAML syntax error"):
        load_inventory(write(tmp_path / "inv.yaml", "nodes:\n  alpha: {host: a}}\n"), str(tmp_path))
    with pytest.raises(InventoryError, match=r"an inventory is a mapping with 'nodes:'"):
        load_inventory(write(tmp_path / "list.yaml", "- alpha\n- beta\n"), str(tmp_path))
    with pytest.raises(UsageError, match="inventory not found"):
        load_inventory(str(tmp_path / "missing.yaml"), str(tmp_path))


def test_missing_node_names_the_node_and_the_nodes_line(tmp_path):
    path = write(tmp_path / "inv.yaml", "# lab hosts\nnodes:\n  alpha: {host: 192.0.2.10}\n")
    inv = load_inventory(path, str(tmp_path))
    inv.check_nodes(("alpha",))
    with pytest.raises(InventoryError) as err:
        inv.check_nodes(("alpha", "beta"))
    assert str(err.value).startswith(
        f"{path}:2: no entry for node beta of the lab (the inventory has: alpha)"
    )


# -- ssh config -----------------------------------------------------------------------------
def test_ssh_config_is_told_apart_from_yaml():
    assert is_ssh_config(VAGRANT_SSH_CONFIG)
    assert is_ssh_config("host=alpha\n  hostname 10.0.0.1\n")
    assert not is_ssh_config("nodes:\n  alpha: {host: 10.0.0.1}\n")
    assert not is_ssh_config("Host: alpha\n")


def test_saved_vagrant_ssh_config_is_resolved_by_openssh(tmp_path):
    path = write(tmp_path / "ssh-config", VAGRANT_SSH_CONFIG + "Host *.internal\n  User x\n")
    inv = load_inventory(path, str(tmp_path))
    assert sorted(inv.entries) == ["alpha", "beta"]  # patterns name no node
    alpha = inv.entry("alpha")
    assert alpha.config_file == os.path.abspath(path) and alpha.host == "alpha"
    assert (alpha.user, alpha.port, alpha.known_hosts) == ("vagrant", 22, "/dev/null")
    assert alpha.strict_host_key_checking == "false"
    assert alpha.line == 1 and inv.entry("beta").line == 14
    # The transport hands the whole config to ssh and lets it keep what it says.
    argv = Target("alpha", alpha, "/run/x/ssh/alpha").argv()
    assert argv[:3] == ["ssh", "-F", os.path.abspath(path)] and argv[-1] == "alpha"
    assert "StrictHostKeyChecking" not in opts(argv)


def test_ssh_config_errors_point_at_the_line(tmp_path):
    path = write(tmp_path / "ssh-config", "Host alpha\n  HostName 10.0.0.1\n  Colour blue\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(path, str(tmp_path))
    assert str(err.value) == f"{path}:3: Bad configuration option: colour"
    with pytest.raises(InventoryError, match="no 'Host NAME' block names a node"):
        load_inventory(write(tmp_path / "wild", "Host *\n  User root\n"), str(tmp_path))


def test_vagrant_inventory_runs_vagrant_ssh_config_in_the_directory(tmp_path, monkeypatch):
    # vagrant itself is not installed here: a stand-in prints what vagrant prints, so
    # what is tested is that it runs in the Vagrantfile's directory and its output is read.
    bindir, project, work = tmp_path / "bin", tmp_path / "project", tmp_path / "work"
    for d in (bindir, project, work):
        d.mkdir()
    (project / "expected-output").write_text(VAGRANT_SSH_CONFIG)
    fake = bindir / "vagrant"
    fake.write_text('#!/bin/sh\n[ "$1" = ssh-config ] && exec cat expected-output\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    inv = load_inventory(f"vagrant:{project}", str(work))
    assert inv.source == f"vagrant:{project}"
    assert inv.entry("beta").config_file == str(work / "vagrant-ssh-config")
    assert inv.entry("beta").user == "vagrant"


def test_vagrant_not_installed_or_no_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="vagrant is not installed"):
        load_inventory(f"vagrant:{tmp_path}", str(tmp_path))
    with pytest.raises(UsageError, match="no such directory"):
        load_inventory(f"vagrant:{tmp_path / 'nope'}", str(tmp_path))


# -- ssh options ----------------------------------------------------------------------------
def test_host_keys_are_checked_unless_insecure(tmp_path):
    inv = load_inventory(
        write(
            tmp_path / "inv.yaml",
            """\
        nodes:
          alpha: {host: 192.0.2.10, user: root, identity_file: /k/id, known_hosts: /k/kh,
                  jump: bastion, options: {StrictHostKeyChecking: "no", BatchMode: "no"}}
        """,
        ),
        str(tmp_path),
    )
    checked = opts(Target("alpha", inv.entry("alpha"), "/run/x/ssh/alpha").argv())
    # ssh keeps the first value of an option: ours come before the inventory's own.
    assert checked["StrictHostKeyChecking"][0] == "yes"
    assert checked["BatchMode"][0] == "yes"
    assert checked["UserKnownHostsFile"] == ["/k/kh"]
    assert checked["IdentityFile"] == ["/k/id"] and checked["IdentitiesOnly"] == ["yes"]
    assert checked["ProxyJump"] == ["bastion"] and checked["User"] == ["root"]
    assert checked["ControlPath"] == ["/run/x/ssh/alpha"]
    loose = opts(Target("alpha", inv.entry("alpha"), "/c", insecure=True).argv())
    assert loose["StrictHostKeyChecking"][0] == "no"
    assert loose["UserKnownHostsFile"][0] == "/dev/null"


def test_provider_options_are_checked_when_a_lab_comes_up(tmp_path):
    spec = parse_spec("name: one\nnodes:\n  alpha: {}\n", str(tmp_path / "one.yaml"))
    inv = write(tmp_path / "inv.yaml", "nodes:\n  alpha: {host: 192.0.2.10}\n")
    cases = [
        ({}, "needs an inventory"),
        ({"inventory": inv, "insecure": "maybe"}, "insecure='maybe': write true or false"),
        (
            {"inventory": inv, "conect_timeout": "3"},
            "unknown option of the ssh provider: conect_timeout",
        ),
        ({"inventory": inv, "connect_timeout": "0"}, "connect_timeout is '0'"),
        ({"inventory": inv, "connect_timeout": "1e9"}, "write a whole number from 1 to 3600"),
    ]
    for options, message in cases:
        with pytest.raises(UsageError, match=message.replace("(", r"\(")) as err:
            get_provider("ssh", **options).up(spec, "one-opts")
        assert err.value.exit_code == 2
    assert not os.path.exists(lab_dir("one-opts"))


def test_settings_follow_the_inventory_text(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("nodes:\n  alpha: {host: 192.0.2.10}\n")
    before = get_provider("ssh", inventory=str(inv)).settings()
    inv.write_text("nodes:\n  alpha: {host: 192.0.2.11}\n")
    after = get_provider("ssh", inventory=str(inv)).settings()
    assert before != after and before["provider"] == "ssh"
    assert get_provider("ssh", inventory=str(inv), insecure="True").settings()["insecure"]
