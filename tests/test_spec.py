"""Lab spec validation: every mistake reported at once, each at its FILE:LINE:COL."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from sphinxext.labbook import cli
from sphinxext.labbook.errors import SpecErrors
from sphinxext.labbook.providers.labstate import state_root
from sphinxext.labbook.spec import load_spec, parse_spec

LABS = Path(__file__).parent / "labs"


def errors_of(text: str) -> list[str]:
    """Every error line for ``text`` (as file 'lab.yaml')."""
    with pytest.raises(SpecErrors) as info:
        parse_spec(textwrap.dedent(text), "lab.yaml")
    return str(info.value).splitlines()


def test_the_test_labs_are_valid() -> None:
    for path in sorted(LABS.glob("*.yaml")):
        assert load_spec(path).nodes, path


def test_duplicate_names_are_duplicate_keys() -> None:
    assert errors_of("""\
        name: dup
        nodes:
          a: {}
          a: {}
        """) == [
        "lab.yaml:4:3: duplicate key 'a' (first defined at line 3); give each a unique name"
    ]


def test_unknown_network_suggests_the_close_one() -> None:
    assert errors_of("""\
        name: x
        networks: {lan: {cidr: 10.0.0.0/24}}
        nodes:
          a: {interfaces: {eth0: {network: lna}}}
        """) == ["lab.yaml:4:36: unknown network 'lna'; did you mean 'lan'?"]


def test_addresses_outside_their_cidr_or_used_twice() -> None:
    lines = errors_of("""\
        name: x
        networks: {lan: {cidr: 10.0.0.0/24, address: 10.0.1.1/24}}
        nodes:
          a: {interfaces: {eth0: {network: lan, address: 10.9.9.9/24}}}
          b: {interfaces: {eth0: {network: lan, address: 10.0.0.7/24}}}
          c: {interfaces: {eth0: {network: lan, address: 10.0.0.7/24}}}
        """)
    assert lines == [
        "lab.yaml:2:46: address 10.0.1.1/24 of network 'lan' is outside its cidr 10.0.0.0/24",
        "lab.yaml:4:50: address 10.9.9.9/24 is outside network 'lan' (10.0.0.0/24)",
        "lab.yaml:6:50: address 10.0.0.7 is used twice (also by interface 'b:eth0'); "
        "give each interface its own address",
    ]


def test_an_address_used_twice_is_reported_where_it_is_written() -> None:
    lines = errors_of("""\
        name: x
        nodes:
          a: {interfaces: {eth0: {address: 10.0.0.1/24, addresses: [10.0.0.2/24]}}}
          b: {interfaces: {eth0: {addresses: [10.0.0.3/24, 10.0.0.2/24]}}}
        """)
    assert [line.split(": ", 1)[0] for line in lines] == ["lab.yaml:4:52"]


def test_interface_names_longer_than_the_kernel_allows() -> None:
    assert errors_of("""\
        name: x
        nodes:
          a: {interfaces: {a-very-long-name0: {}}}
        """) == [
        "lab.yaml:3:20: interface name 'a-very-long-name0' is 17 characters; "
        "the kernel allows at most 15, for example 'a-very-long-nam'"
    ]


def test_bad_cidrs_say_what_to_write() -> None:
    assert errors_of("""\
        name: x
        networks:
          a: {cidr: 10.0.0.1/24}
          b: {cidr: 10.0.0.0/40}
          c: {cidr: lan}
        """) == [
        "lab.yaml:3:13: bad CIDR '10.0.0.1/24' (10.0.0.1/24 has host bits set); "
        "did you mean 10.0.0.0/24?",
        "lab.yaml:4:13: bad CIDR '10.0.0.0/40' ('10.0.0.0/40' does not appear to be an IPv4 "
        "or IPv6 network); write it like 10.0.0.0/24",
        "lab.yaml:5:13: bad CIDR 'lan' ('lan' does not appear to be an IPv4 or IPv6 network); "
        "write it like 10.0.0.0/24",
    ]


def test_unknown_keys_get_a_did_you_mean() -> None:
    assert errors_of("""\
        name: x
        nodes:
          a:
            hostnme: alpha
            interfaces: {eth0: {adress: 10.0.0.1/24}}
        """) == [
        "lab.yaml:4:5: unknown key 'hostnme' in node 'a'; did you mean 'hostname'?",
        "lab.yaml:5:25: unknown key 'adress' in node 'a' interface 'eth0'; did you mean 'address'?",
    ]


def test_yaml_syntax_errors_are_located() -> None:
    lines = errors_of("""\
        name: x
        nodes:
          a: {interfaces: {eth0: {network: lan}}
          b: {}
        """)
    assert len(lines) == 1
    assert lines[0].startswith("lab.yaml:4:") and "YAML syntax error" in lines[0]


def test_every_error_of_a_file_is_reported_at_once() -> None:
    lines = errors_of("""\
        name: Bad_Name
        networks:
          lan: {cidr: 10.0.0.0/24}
        nodes:
          a: {interfaces: {eth0: {network: wan}}}
          b: {colour: red}
        links:
          - endpoints: [a:eth1, zz:eth1]
        """)
    assert [line.split(": ", 1)[0] for line in lines] == [
        "lab.yaml:1:7",
        "lab.yaml:5:36",
        "lab.yaml:6:7",
        "lab.yaml:8:25",
    ]
    assert "unknown node 'zz' in link" in lines[3]


def test_macvlan_passthru_cannot_be_shared() -> None:
    lines = errors_of("""\
        name: x
        networks: {lan: {}}
        nodes:
          host: {interfaces: {eth0: {network: lan}}}
          c1: {interfaces: {eth0: {type: macvlan, parent: host:eth0, mode: passthru}}}
          c2: {interfaces: {eth0: {type: macvlan, parent: host:eth0, mode: passthru}}}
        """)
    assert any("macvlan passthru takes the whole of host:eth0" in line for line in lines)


def test_labbook_up_reports_spec_errors_with_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nnodes:\n  a: {interfaces: {eth0: {network: nowhere}}}\n  b: {hostname: [1]}\n"
    )
    root = state_root()
    before = set(os.listdir(root)) if os.path.isdir(root) else set()
    assert cli.main(["up", str(bad), "--name", "spec-errors"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{bad}:3:36: unknown network 'nowhere'",
        f"{bad}:4:17: node 'b' 'hostname' must be a string, not list",
    ]
    after = set(os.listdir(root)) if os.path.isdir(root) else set()
    assert "spec-errors" not in after - before
