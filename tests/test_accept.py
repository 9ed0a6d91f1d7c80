"""Accept mode: new expected output that passes and keeps what the page still gets right."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sphinxext.labbook.steps.console import parse_console
from sphinxext.labbook.verdict.accept import accept, literal, rewrite_block
from sphinxext.labbook.verdict.matching import match_output

DATA = Path(__file__).parent / "data"


def test_keeps_ellipsis_regex_and_lines_that_match_by_shape():
    page = [
        "PING 10.0.2.3 (10.0.2.3) 56(84) bytes of data.",
        "64 bytes from 10.0.2.3: icmp_seq=1 ttl=64 time=0.081 ms",
        "...",
        "2 packets transmitted, 2 received, 0% packet loss, time 1001ms",
        r"rtt min/avg/max/mdev = [\d./]+ ms (re)",
    ]
    actual = (
        "PING 10.0.2.3 (10.0.2.3) 56(84) bytes of data.\n"
        "64 bytes from 10.0.2.3: icmp_seq=1 ttl=64 time=0.261 ms\n"
        "64 bytes from 10.0.2.3: icmp_seq=2 ttl=64 time=0.033 ms\n"
        "64 bytes from 10.0.2.3: icmp_seq=3 ttl=64 time=0.037 ms\n\n"
        "--- 10.0.2.3 ping statistics ---\n"
        "3 packets transmitted, 3 received, 0% packet loss, time 408ms\n"
        "rtt min/avg/max/mdev = 0.033/0.110/0.261/0.106 ms\n"
    )
    assert not match_output(page, actual).ok
    new = accept(page, actual)
    assert new == [
        page[0],
        page[1],
        "...",
        "3 packets transmitted, 3 received, 0% packet loss, time 408ms",
        page[4],
    ]
    assert match_output(new, actual).ok


def test_real_looking_values_are_not_churned():
    page = (DATA / "article" / "docker_exec_ip_addr.out").read_text().splitlines()
    actual = (
        "9: eth0@if10: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP "
        "group default\n"
        "    link/ether 5e:00:11:22:33:44 brd ff:ff:ff:ff:ff:ff link-netnsid 1\n"
        "    inet 172.80.0.7/24 brd 172.80.0.255 scope global eth0\n"
        "       valid_lft forever preferred_lft forever\n"
    )
    new = accept(page, actual)
    # index, MAC and netnsid as the article showed them (trailing blanks trimmed)
    assert new[:2] == [x.rstrip() for x in page[:2]]
    assert new[2] == "    inet 172.80.0.7/24 brd 172.80.0.255 scope global eth0"
    assert new[3] == page[3].rstrip()


def test_missing_and_extra_lines():
    assert accept(["a", "gone", "c"], "a\nc\nnew\n") == ["a", "c", "new"]
    assert accept(["a", "...", "z"], "a\nz\n") == ["a", "...", "z"]  # an empty ... stays
    assert accept([], "out\n") == ["out"]
    assert accept(["was"], "") == []


def test_actual_lines_that_would_read_as_patterns_are_escaped():
    actual = "...\nfoo (re)\nbar (glob)\n"
    new = accept(["x"], actual)
    assert new == [r"\.\.\. (re)", r"foo\ \(re\) (re)", r"bar\ \(glob\) (re)"]
    assert match_output(new, actual).ok
    assert not match_output(new, "anything\nfoo (re)\nbar (glob)\n").ok
    assert literal("plain") == "plain"


def test_exact_mode_does_not_keep_shape_matches():
    page = ["link/ether 02:42:ac:50:00:02"]
    assert accept(page, "link/ether 5e:00:11:22:33:44", "exact") == ["link/ether 5e:00:11:22:33:44"]
    assert accept(page, "link/ether 5e:00:11:22:33:44", "normalized") == page


def test_contains_keeps_its_few_lines():
    actual = (DATA / "article" / "apt_get_downgrade.out").read_text()
    page = [
        "The following packages will be DOWNGRADED:",
        "Setting up docker-ce (17.12.1~ce-0~ubuntu) ...",
        "docker start/running, process 1",
    ]
    new = accept(page, actual, "contains")
    assert new == [page[0], "Setting up docker-ce (17.09.1~ce-0~ubuntu) ...", page[2]]
    assert match_output(new, actual, "contains").ok
    # a line with nothing like it left in the output goes
    assert accept(["Setting up nova-api"], actual, "contains") == []


def test_json_keeps_values_that_match_and_the_page_layout():
    page = (DATA / "cni" / "bridge_add_1.json").read_text().splitlines()
    data = json.loads((DATA / "cni" / "bridge_add_2.json").read_text())
    data["ips"][0]["address"] = "10.22.0.9/16"
    data["dns"] = {"nameservers": ["10.22.0.1"]}
    actual = json.dumps(data, indent=4)
    new = accept(page, actual, "json")
    assert new[:3] == page[:3]
    kept = json.loads("\n".join(new))
    assert kept["interfaces"] == json.loads("\n".join(page))["interfaces"]  # page's MACs
    assert kept["ips"][0]["address"] == "10.22.0.9/16"
    assert kept["dns"] == {"nameservers": ["10.22.0.1"]}
    assert match_output(new, actual, "json").ok
    assert accept(['{"a": 1, "b": "..."}'], '{"a": 2, "b": [1]}') == ['{"a": 2, "b": "..."}']


def test_json_mode_with_output_that_is_not_json():
    new = accept(['{"a": 1}'], "Error: no such device\n", "json")
    assert new == ["Error: no such device"]
    assert match_output(new, "Error: no such device\n").ok


_token = st.sampled_from(
    [
        "...",
        "x",
        "y",
        "",
        "  ",
        "a ... b",
        r"\d+ (re)",
        "[ (re)",
        "* (glob)",
        "link/ether",
        "link/ether 02:42:ac:50:00:02",
        "link/ether 9e:1f:00:ab:cd:ef",
        "time=0.081 ms",
        "time=12 ms",
        "22: eth0@if23: <UP>",
        "7: eth0@if8: <UP>",
        "foo (re)",
        "$ x",
        "{",
        "}",
        '{"a": 1}',
        '[1, "..."]',
        "[1, 2]",
        "x\r",
        "\x1b[1mx\x1b[0m",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_token, max_size=8),
    st.lists(_token, max_size=8),
    st.sampled_from(["normalized", "exact", "contains", "json"]),
)
def test_accepted_output_always_matches(expected, actual_lines, mode):
    expected = [x for x in expected if x != "[ (re)"]  # a page with a bad regex is an error
    actual = "\n".join(actual_lines)
    new = accept(expected, actual, mode)
    try:
        assert match_output(new, actual, mode).ok
    except Exception as exc:  # only json mode may refuse a page that is not JSON
        assert mode == "json", exc


# -- rewrite_block ----------------------------------------------------------------------
BLOCK = [
    "$ ip -br addr show veth-a",
    "veth-a@if8       UP             10.0.2.15/24",
    "",
    "$ cat > /etc/hosts <<EOF",
    "> 10.0.2.3 c2",
    "> EOF",
    "",
    "$ ping -c 1 c2 \\",
    ">   -W 1",
    "old output",
    "...",
    "",
    "",
]


def test_rewrite_keeps_commands_and_replaces_outputs():
    cmds = parse_console(BLOCK)
    new = [cmds[0], cmds[1], replace(cmds[2], expected=("PING c2 (10.0.2.3)", "..."))]
    out = rewrite_block(BLOCK, new)
    assert out == [*BLOCK[:9], "PING c2 (10.0.2.3)", "...", "", ""]
    assert rewrite_block(BLOCK, cmds) == BLOCK


def test_rewrite_in_any_order_and_with_more_or_fewer_lines():
    cmds = parse_console(BLOCK)
    new = [replace(cmds[2], expected=()), replace(cmds[0], expected=("a", "b", "c")), cmds[1]]
    out = rewrite_block(BLOCK, new)
    assert out == [BLOCK[0], "a", "b", "c", "", *BLOCK[3:9], "", ""]
    assert [c.expected for c in parse_console(out)] == [("a", "b", "c"), (), ()]


def test_rewritten_output_that_looks_like_a_prompt_stays_output():
    cmds = parse_console(["$ cat notes", "old"])
    out = rewrite_block(
        ["$ cat notes", "old"], [replace(cmds[0], expected=("$ rm -rf /", "$", "# root"))]
    )
    (cmd,) = parse_console(out)
    assert cmd.text == "cat notes"
    assert match_output(cmd.expected, "$ rm -rf /\n$\n# root\n").ok
    assert not match_output(cmd.expected, "$ rm -rf /tmp\n$\n# root\n").ok


@given(st.lists(st.lists(_token, max_size=4), min_size=1, max_size=4))
def test_accept_then_rewrite_then_parse_matches(outputs):
    block: list[str] = []
    for k in range(len(outputs)):
        block += [f"$ step {k}", "stale"]
    cmds = parse_console(block)
    new = [
        replace(c, expected=tuple(accept(c.expected, "\n".join(out))))
        for c, out in zip(cmds, outputs, strict=True)
    ]
    reparsed = parse_console(rewrite_block(block, new))
    assert [c.text for c in reparsed] == [c.text for c in cmds]
    for c, out in zip(reparsed, outputs, strict=True):
        assert match_output(c.expected, "\n".join(out)).ok


@pytest.mark.parametrize("prompt", ["$ ", "# "])
def test_rewrite_a_root_block(prompt):
    block = [f"{prompt}service nova-network restart", "stopped"]
    cmds = parse_console(block)
    out = rewrite_block(block, [replace(cmds[0], expected=("# comment", "$ x"))])
    assert parse_console(out)[0].text == "service nova-network restart"
    assert len(parse_console(out)) == 1


def test_rewrite_block_takes_commands_with_source_lines():
    block = ["$ echo one", "uno", "", "$ echo two", "dos"]
    cmds = parse_console(block, first_line=12)
    new = [replace(c, expected=(c.text.split()[1],)) for c in cmds]
    assert rewrite_block(block, new, first_line=12) == [
        "$ echo one",
        "one",
        "",
        "$ echo two",
        "two",
    ]
