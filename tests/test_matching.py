"""Expected vs actual output: shapes, ellipsis, regexes, modes, diffs and real outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sphinxext.labbook.errors import DirectiveError
from sphinxext.labbook.steps.model import MatchMode
from sphinxext.labbook.verdict import matching
from sphinxext.labbook.verdict.matching import (
    actual_lines,
    align,
    compile_lines,
    match_output,
    validate_expected,
)
from sphinxext.labbook.verdict.normalize import NORMALIZERS, volatile_tokens

DATA = Path(__file__).parent / "data"


def lines(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


# -- one case per normalizer: (page line, same shape other value, a real difference) ----
SHAPES = {
    "mac": (
        "    link/ether 02:42:ac:50:00:02 brd ff:ff:ff:ff:ff:ff",
        "    link/ether 9e:1f:00:ab:cd:ef brd ff:ff:ff:ff:ff:ff",
        "    link/ether 9e:1f:00:ab:cd:ef brd 00:00:00:00:00:00",
    ),
    "uuid": (
        "sandbox /var/run/netns/cni-0b8b7bf3-6f4b-7e04-1f1c-2b1e8b0b9e5e",
        "sandbox /var/run/netns/cni-5a1c0e2d-9b8a-4c3d-8e7f-6a5b4c3d2e1f",
        "sandbox /var/run/netns/cni-5a1c0e2d-9b8a-4c3d-8e7f",
    ),
    "hex64": (
        "c719a954130f4769afeff28654800e8d7593b14442cfb36bcbd0ed0eade28b83",
        "aa915e2015629361306c80b2e508f94b6855857b14cfe6ea397c151250f12cb2",
        "aa915e2015629361306c80b2e508f94b6855857b14cfe6ea397c151250f12c",
    ),
    "hex12": (
        "d1cd6bdefdb7        bridge              bridge              local",
        "0f3a9b2c4d5e        bridge              bridge              local",
        "0f3a9b2c4d5e        host                host                local",
    ),
    "veth": (
        "docker0         8000.0242f6f9457f       no              vethe752504",
        "docker0         8000.02421a2b3c4d       no              veth1a2b3c4",
        "docker0         8000.02421a2b3c4d       no              eth0",
    ),
    "ifindex": (
        "22: eth0@if23: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue",
        "7: eth0@if8: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue",
        "7: eth1@if8: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue",
    ),
    "peer": (
        "veth-a@if8       UP             10.0.2.15/24",
        "veth-a@if12      UP             10.0.2.15/24",
        "veth-a@if12      DOWN           10.0.2.15/24",
    ),
    "netnsid": (
        "    link/ether 02:42:ac:50:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0",
        "    link/ether 02:42:ac:50:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 3",
        "    link/ether 02:42:ac:50:00:02 brd ff:ff:ff:ff:ff:ff",
    ),
    "linklocal": (
        "    inet6 fe80::c07:e8ff:fe5a:3762/64 scope link",
        "    inet6 fe80::70f4:5aff:fe85:332a/64 scope link",
        "    inet6 fd00::70f4:5aff:fe85:332a/64 scope link",
    ),
    "lifetime": (
        "       valid_lft 85773sec preferred_lft 85773sec",
        "       valid_lft 86400sec preferred_lft 43200sec",
        "       valid_lft forever preferred_lft forever",
    ),
    "ping_time": (
        "64 bytes from 10.0.2.3: icmp_seq=1 ttl=64 time=0.081 ms",
        "64 bytes from 10.0.2.3: icmp_seq=1 ttl=64 time=12.5 ms",
        "64 bytes from 10.0.2.3: icmp_seq=1 ttl=63 time=12.5 ms",
    ),
    "ping_total": (
        "2 packets transmitted, 2 received, 0% packet loss, time 1001ms",
        "2 packets transmitted, 2 received, 0% packet loss, time 1003ms",
        "2 packets transmitted, 1 received, 50% packet loss, time 1003ms",
    ),
    "rtt": (
        "rtt min/avg/max/mdev = 0.035/0.041/0.047/0.006 ms",
        "rtt min/avg/max/mdev = 0.033/0.110/0.261/0.106 ms",
        "rtt min/avg/max = 0.033/0.110/0.261 ms",
    ),
    "elapsed": ("real\t0m0.003s", "real\t0m1.250s", "user\t0m1.250s"),
    "iso_datetime": (
        "created 2026-11-21T19:31:44.123456+00:00 by nova",
        "created 2027-01-02T03:04:05.000001+00:00 by nova",
        "created 2027-01-02T03:04:05.000001+00:00 by neutron",
    ),
    "iso_date": (
        "Last login: 2026-11-21 on pts/0",
        "Last login: 2027-02-03 on pts/0",
        "Last login: 2027-02-03 on pts/1",
    ),
    "date": (
        "Sat Nov 21 19:31:44 UTC 2026",
        "Mon Jan  4 07:02:09 CET 2027",
        "Mon Jan  4 07:02:09 2027 is the date",
    ),
    "syslog_time": (
        "Nov 21 19:31:44 c1 dnsmasq[7219]: started",
        "Dec  1 02:03:04 c1 dnsmasq[7219]: started",
        "Dec  1 02:03:04 c2 dnsmasq[7219]: started",
    ),
    "ls_time": (
        "-rw-r--r-- 1 root root 120 Nov 21 19:31 nova.conf",
        "-rw-r--r-- 1 root root 120 Feb  3  2025 nova.conf",
        "-rw-r----- 1 root root 120 Feb  3  2025 nova.conf",
    ),
    "clock": (
        " 19:31:44 up 3 days,  2 users",
        " 07:02:09 up 3 days,  2 users",
        " 07:02:09 up 4 days,  2 users",
    ),
    "pid": (
        "docker start/running, process 7219",
        "docker start/running, process 31",
        "docker stop/waiting, process 31",
    ),
    "job": ("[1] 12345", "[1] 678", "[2] 678"),
}


def test_every_normalizer_has_a_case():
    assert set(SHAPES) == {n.name for n in NORMALIZERS}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_normalizer_matches_by_shape_not_value(name):
    page, same_shape, different = SHAPES[name]
    assert name in {kind for kind, _ in volatile_tokens(page)}
    assert match_output([page], page).ok
    assert match_output([page], same_shape).ok, name
    m = match_output([page], different)
    assert not m.ok and m.first_bad == 0


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_exact_mode_turns_normalizers_off(name):
    page, same_shape, _ = SHAPES[name]
    assert match_output([page], page, "exact").ok
    assert not match_output([page], same_shape, MatchMode.EXACT).ok


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=lambda n: n.name)
def test_each_example_is_its_own_kind(normalizer):
    # an interface index and a job's pid are only known by the line around them
    line = {"ifindex": "22: eth0@if23: <UP>", "job": "[1] 12345"}.get(
        normalizer.name, normalizer.example
    )
    assert (normalizer.name, normalizer.example) in volatile_tokens(line)


def test_meaningful_values_stay_literal():
    # ttl, sequence numbers, addresses, broadcast and loopback MACs are not volatile
    assert not match_output(
        ["64 bytes from 10.0.2.3: icmp_seq=1 ttl=64 time=0.1 ms"],
        "64 bytes from 10.0.2.3: icmp_seq=2 ttl=64 time=0.1 ms",
    ).ok
    assert not match_output(
        ["    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"],
        "    link/loopback 00:00:00:00:00:01 brd 00:00:00:00:00:00",
    ).ok
    assert not match_output(
        ["    inet 172.80.0.2/24 brd 172.80.0.255 scope global eth0"],
        "    inet 172.80.0.3/24 brd 172.80.0.255 scope global eth0",
    ).ok
    assert not match_output(["counter 123456789012"], "counter 123456789013").ok


# -- ellipsis, regexes, globs ---------------------------------------------------------
@pytest.mark.parametrize(
    "actual,ok",
    [
        ("PING\ndone", True),
        ("PING\na\nb\nc\ndone", True),
        ("PING\na\ndone\nextra", False),
        ("a\ndone", False),
    ],
)
def test_ellipsis_line_takes_any_number_of_lines(actual, ok):
    assert match_output(["PING", "...", "done"], actual).ok is ok


def test_ellipsis_at_both_ends_and_many_of_them():
    page = ["...", "a", "...", "b", "...", "c", "..."]
    assert match_output(page, "a\nb\nc").ok
    assert match_output(page, "0\na\n1\n2\nb\nc\n3").ok
    assert not match_output(page, "a\nc\nb").ok


def test_ellipsis_inside_a_line_matches_any_text():
    assert match_output(["Reading package lists... Done"], "Reading package lists... Done").ok
    assert match_output(
        ["PING 10.0.2.3 ... bytes of data."], "PING 10.0.2.3 (10.0.2.3) 56(84) bytes of data."
    ).ok
    assert not match_output(
        ["PING 10.0.2.3 ... bytes of data."], "PING 10.0.2.4 (10.0.2.4) 56(84) bytes of data."
    ).ok


def test_many_ellipses_never_backtrack_exponentially():
    page = ["...", "x"] * 25 + ["never there"]
    actual = "\n".join(["x"] * 400)
    calls = 0

    def counting(tests):
        def wrap(t):
            def f(text):
                nonlocal calls
                calls += 1
                return t(text)

            return None if t is None else f

        return [wrap(t) for t in tests]

    tests = counting(compile_lines(page, "normalized"))
    ops = align(tests, actual.splitlines())
    assert [op.kind for op in ops].count("del") == 1
    assert calls <= 2 * len(page) * 400  # one table of tests, not a search tree
    assert not match_output(page, actual).ok


def _changed_lines(diff: str) -> list[str]:
    return [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("---", "+++")]


@pytest.mark.parametrize("cells", [None, 10**9])
def test_a_huge_mismatch_is_still_aligned_line_by_line(monkeypatch, cells):
    # past MAX_CELLS difflib aligns (by shape); with a huge limit the full table does
    if cells:
        monkeypatch.setattr(matching, "MAX_CELLS", cells)
    page = [
        "...",
        *(f"{i}: eth{i}@if{i + 1}: <UP> 02:42:ac:50:00:{i % 90 + 10}" for i in range(600)),
        "...",
    ]
    actual = [
        "boot",
        *(f"{i + 7}: eth{i}@if{i + 9}: <UP> 9a:00:00:00:00:{i % 90 + 10}" for i in range(600)),
        "end",
    ]
    actual[301] = actual[301].replace("<UP>", "<DOWN>")
    m = match_output(page, "\n".join(actual))
    assert (m.ok, m.first_bad) == (False, 301)
    assert _changed_lines(m.diff) == [f"-{page[301]}", f"+{actual[301]}"]


@pytest.mark.parametrize(
    "page,actual,ok",
    [
        (
            r"64 bytes from 10\.0\.2\.3: icmp_seq=\d+ ttl=64 .* (re)",
            "64 bytes from 10.0.2.3: icmp_seq=3 ttl=64 time=0.1 ms",
            True,
        ),
        (
            r"64 bytes from 10\.0\.2\.3: icmp_seq=\d+ ttl=64 .* (re)",
            "64 bytes from 10.0.2.4: icmp_seq=3 ttl=64 time=0.1 ms",
            False,
        ),
        (r"\d+ (re)", "123 trailing", False),  # the whole line, not a prefix
        ("eth? *UP* (glob)", "eth0             UP             10.0.2.15/24", True),
        ("eth? *UP* (glob)", "eth10            UP", False),
    ],
)
def test_regex_and_glob_lines(page, actual, ok):
    assert match_output([page], actual).ok is ok
    assert match_output([page], actual, "exact").ok is ok  # the author asked for it


def test_a_bad_regex_is_a_directive_error_at_its_line():
    with pytest.raises(DirectiveError) as err:
        match_output(["fine", "broken [ (re)"], "fine\nbroken [")
    assert err.value.line == 1
    assert "regular expression" in err.value.message


# -- white space and terminal output --------------------------------------------------
def test_white_space_line_ends_and_progress_lines():
    assert match_output(["a", "b"], "a   \r\nb\t\n\n\n").ok
    assert match_output(["100%"], " 10%\r 50%\r100%\n").ok
    assert match_output(["ok"], "\x1b[32mok\x1b[0m\n").ok
    assert actual_lines("x \r\ny\n\n") == ["x", "y"]
    assert not match_output(["  indented"], "indented").ok  # leading space counts


def test_trailing_blank_expected_lines_are_ignored_inner_ones_count():
    assert match_output(["a", "", ""], "a").ok
    assert not match_output(["a", "", "b"], "a\nb").ok


# -- failures: negative cases and the diff --------------------------------------------
def test_missing_line_extra_line_and_wrong_line():
    page = ["one", "two", "three"]
    missing = match_output(page, "one\nthree")
    assert (missing.ok, missing.first_bad) == (False, 1)
    assert "-two" in missing.diff.splitlines()
    extra = match_output(page, "one\ntwo\nthree\nfour")
    assert (extra.ok, extra.first_bad) == (False, 3)
    assert "+four" in extra.diff.splitlines()
    wrong = match_output(page, "one\nTWO\nthree")
    assert wrong.first_bad == 1
    assert wrong.diff.startswith("--- expected\n+++ actual\n@@ ")
    assert {"-two", "+TWO"} <= set(wrong.diff.splitlines())
    assert match_output(page, "one\ntwo\nthree").diff == ""


def test_diff_shows_real_values_where_shapes_matched():
    page = lines("article/docker_exec_ip_addr.out")
    actual = (
        "7: eth0@if8: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP "
        "group default\n"
        "    link/ether 9a:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff link-netnsid 3\n"
        "    inet 172.80.0.9/24 brd 172.80.0.255 scope global eth0\n"
        "       valid_lft forever preferred_lft forever\n"
    )
    m = match_output(page, actual)
    assert not m.ok and m.first_bad == 2
    diff = m.diff.splitlines()
    assert "-    inet 172.80.0.2/24 brd 172.80.0.255 scope global eth0" in diff
    assert "+    inet 172.80.0.9/24 brd 172.80.0.255 scope global eth0" in diff
    # the lines that matched by shape are context, with the values the lab printed
    assert "     link/ether 9a:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff link-netnsid 3" in diff
    assert not any("02:42:ac:50:00:02" in x for x in diff)
    assert not re.search(r"\\d|\[0-9", m.diff)


def test_diff_of_an_ellipsis_shows_what_it_took():
    m = match_output(["start", "...", "end"], "start\nmiddle\nEND")
    assert m.first_bad == 2
    assert m.diff.splitlines()[3:] == [" start", " middle", "-end", "+END"]


# -- contains -------------------------------------------------------------------------
def test_contains_finds_lines_in_order():
    actual = "\n".join(lines("article/apt_get_downgrade.out"))
    page = [
        "The following packages will be DOWNGRADED:",
        "Setting up docker-ce (17.09.1~ce-0~ubuntu) ...",
        "docker start/running, process 1234",
    ]
    assert match_output(page, actual, "contains").ok
    assert not match_output(list(reversed(page)), actual, "contains").ok
    m = match_output([*page, "Setting up nova"], actual, "contains")
    assert (m.ok, m.first_bad) == (False, 3)
    assert "-Setting up nova" in m.diff.splitlines()


def test_contains_uses_shapes_too():
    actual = "\n".join(lines("netns/ping_2.out"))
    assert match_output(
        ["64 bytes from 10.0.2.3: icmp_seq=2 ttl=64 time=9.9 ms"], actual, "contains"
    ).ok
    assert not match_output(
        ["64 bytes from 10.0.2.3: icmp_seq=2 ttl=64 time=9.9 ms"], actual, "exact"
    ).ok


# -- JSON -----------------------------------------------------------------------------
CNI = (DATA / "cni" / "bridge_add_1.json").read_text().splitlines()
CNI_OTHER_RUN = (DATA / "cni" / "bridge_add_2.json").read_text()


def test_json_compared_by_structure_and_shape():
    assert match_output(CNI, CNI_OTHER_RUN, "json").ok
    assert match_output(CNI, CNI_OTHER_RUN).ok  # normalized mode sees JSON on both sides
    assert not match_output(CNI, CNI_OTHER_RUN, "exact").ok
    reordered = json.dumps(dict(reversed(list(json.loads(CNI_OTHER_RUN).items()))))
    assert match_output(CNI, reordered, "json").ok


@pytest.mark.parametrize(
    "change,path_word",
    [
        (lambda d: d["ips"][0].update(address="10.22.0.6/16"), '"address"'),
        (lambda d: d.pop("dns"), '"dns"'),
        (lambda d: d.update(extra=True), None),
        (lambda d: d["interfaces"].pop(), '"interfaces"'),
        (lambda d: d["ips"][0].update(interface="2"), '"interface"'),
    ],
)
def test_json_differences_are_drift(change, path_word):
    data = json.loads(CNI_OTHER_RUN)
    change(data)
    m = match_output(CNI, json.dumps(data, indent=2), "json")
    assert not m.ok
    assert m.diff.startswith("--- expected\n+++ actual\n")
    if path_word:
        assert path_word in CNI[m.first_bad]


def test_json_diff_hides_values_that_matched_by_shape():
    data = json.loads(CNI_OTHER_RUN)
    data["ips"][0]["gateway"] = "10.22.0.254"
    m = match_output(CNI, json.dumps(data), "json")
    assert _changed_lines(m.diff) == [
        '-      "gateway": "10.22.0.1",',
        '+      "gateway": "10.22.0.254",',
    ]


def test_json_ellipsis_values_items_and_keys():
    page = [
        '{"cniVersion": "...", "interfaces": [{"name": "cni0", "...": "..."}, "..."],',
        ' "...": "..."}',
    ]
    assert match_output(page, CNI_OTHER_RUN, "json").ok
    assert not match_output(page, CNI_OTHER_RUN.replace('"cni0"', '"cni1"'), "json").ok
    assert not match_output(['{"interfaces": []}'], CNI_OTHER_RUN, "json").ok


def test_ip_json_output_with_other_indexes():
    page = lines("netns/ip_j_addr_1.out")
    assert match_output(page, (DATA / "netns" / "ip_j_addr_2.out").read_text()).ok
    changed = (DATA / "netns" / "ip_j_addr_2.out").read_text().replace('"mtu":1500', '"mtu":1400')
    m = match_output(page, changed)
    assert not m.ok and '+    "mtu": 1400,' in m.diff.splitlines()


def test_validate_expected_before_any_lab_runs():
    validate_expected(["ok", "...", r"\d+ (re)"], "normalized")
    validate_expected(['{"a": "..."}'], "json")
    with pytest.raises(DirectiveError) as err:
        validate_expected(["ok", "(unclosed (re)"], "exact")
    assert err.value.line == 1
    with pytest.raises(DirectiveError) as err:
        validate_expected(["{", '  "a": 1', '  "b": 2', "}"], "json")
    assert err.value.line == 2


def test_json_mode_errors_and_non_json_output():
    with pytest.raises(DirectiveError) as err:
        match_output(['{"a": 1,', '  "b": }'], '{"a": 1}', "json")
    assert err.value.line == 1
    m = match_output(['{"a": 1}'], "Error: no such device", "json")
    assert not m.ok and "+Error: no such device" in m.diff.splitlines()
    # normalized mode falls back to lines when one side is not JSON
    assert match_output(["{...}"], "{not json}").ok
    assert not match_output(['{"a": 1}'], '{"a": 2}').ok
    assert match_output(["1.0"], "1.0").ok and not match_output(["1.0"], "1").ok


# -- outputs from the source articles and from real namespaces -------------------------
def _other_run(text: str) -> str:
    """The same output as another run prints it: other MACs, indexes, ids, timings."""
    text = re.sub(r"(?m)^\d+(?=: )", "41", text)
    text = re.sub(r"@if\d+", "@if42", text)
    text = re.sub(
        r"(?<!brd )\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b",
        lambda m: m.group() if m.group() == "ff:ff:ff:ff:ff:ff" else "be:ef:00:11:22:33",
        text,
    )
    text = re.sub(r"\b[0-9a-f]{64}\b", "f" * 40 + "0123456789abcdef01234567", text)
    text = re.sub(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{12}\b", "abcdef012345", text)
    text = re.sub(r"time=[\d.]+ ms", "time=9.999 ms", text)
    text = re.sub(r"= [\d./]+ ms", "= 1.5/2.5/3.5 ms", text)
    text = re.sub(r"veth[0-9a-f]{7}", "veth0a1b2c3", text)
    text = re.sub(r"(valid|preferred)_lft \d+sec", r"\1_lft 600sec", text)
    return text.replace("link-netnsid 0", "link-netnsid 7").replace("process 7219", "process 88")


ARTICLE = sorted(p.name for p in (DATA / "article").glob("*.out"))


@pytest.mark.parametrize("name", ARTICLE)
def test_article_output_matches_another_run(name):
    page = lines(f"article/{name}")
    other = _other_run("\n".join(page))
    assert match_output(page, "\n".join(page)).ok
    assert match_output(page, other).ok, match_output(page, other).diff


def test_article_outputs_with_a_real_change_drift():
    one = lines("article/macvlan_container_ip_addr.out")
    two = "\n".join(lines("article/macvlan_container2_ip_addr.out"))
    m = match_output(one, two)
    assert not m.ok and m.first_bad == 2  # the address differs, index and MAC do not count
    assert sum(x.startswith("-") for x in m.diff.splitlines()) == 2  # '---' and one line
    ping = lines("article/busybox_ping.out")
    loss = "\n".join(lines("article/busybox_ping_loss.out"))
    assert not match_output(ping, loss).ok


NETNS = sorted({p.name.rsplit("_", 1)[0] for p in (DATA / "netns").glob("*_1.out")})


@pytest.mark.parametrize("name", NETNS)
def test_real_namespace_outputs_of_two_runs_match(name):
    first = lines(f"netns/{name}_1.out")
    second = (DATA / "netns" / f"{name}_2.out").read_text()
    assert match_output(first, second).ok, match_output(first, second).diff
    changed = (
        second.replace("LOWER_UP", "NO-CARRIER")
        if "LOWER_UP" in second
        else second.replace("10.0.2.", "10.0.9.")
    )
    assert not match_output(first, changed).ok


def test_a_page_showing_article_ip_addr_against_a_namespace():
    # the lab's veth has no docker MAC prefix and a different qdisc: that is drift
    m = match_output(
        lines("article/host_ip_addr_dynamic.out"), (DATA / "netns" / "ip_addr_1.out").read_text()
    )
    assert not m.ok and m.first_bad == 0


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30), max_size=8
    )
)
def test_real_output_shown_as_is_matches_itself(raw):
    text = "\n".join(raw)
    page = [x for x in actual_lines(text)]
    shown = [x for x in page if x.strip() != "..." and not x.endswith((" (re)", " (glob)"))]
    if shown == page:
        for mode in ("normalized", "exact", "contains"):
            assert match_output(page, text, mode).ok


def test_tabs_in_real_output_compare_as_a_terminal_shows_them():
    from sphinxext.labbook.verdict.accept import accept

    actual = "bridge name\tbridge id\t\tSTP enabled\tinterfaces\ndocker0\t\t8000.0242\tno\n"
    page = accept(["stale"], actual)
    assert all("\t" not in line for line in page)
    assert page[0] == "bridge name     bridge id               STP enabled     interfaces"
    assert match_output(page, actual).ok
    assert not match_output(["bridge name bridge id STP enabled interfaces", "docker0"], actual).ok
