"""Config files: whole files and ini/yaml/json merges, read back and checked for drift."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sphinxext.labbook.errors import DirectiveError, LabbookError
from sphinxext.labbook.steps.model import FileFormat
from sphinxext.labbook.verdict.configfiles import apply_content, check_content, scan_ini

# /etc/nova/nova-cells.conf as the cells article shows it: a bare key and '...' gaps
NOVA_CELLS = [
    "[DEFAULT]",
    "transport_url = rabbit://stackrabbit:password@host:5672/child_cell",
    "dhcpbridge_flagfile",
    "...",
    "[database]",
    "connection = mysql+pymysql://root:password@host/nova_cell?charset=utf8",
    "...",
    "[cells]",
    "name = child",
    "cell_type = compute",
    "enable = True",
]

# /etc/keystone/keystone.conf from the regions article: long comments to keep
KEYSTONE = b"""[identity]
# Entry point for the identity backend driver in the `keystone.identity`
# namespace. Keystone provides a `sql` and `ldap` driver. This option is also
# used as the default driver selection (along with the other configuration
# variables in this section) in the event that `[identity]
# domain_specific_drivers_enabled` is enabled, but no applicable domain-
# specific configuration is defined for the domain in question. Unless your
# deployment primarily relies on `ldap` AND is not using domain-specific
# configuration, you should typically leave this set to `sql`. (string value)
driver = sql

[database]
connection = mysql+pymysql://root:password@127.0.0.1/keystone?charset=utf8
"""


# -- whole files ----------------------------------------------------------------------
def test_whole_file_leaves_out_the_ellipsis_and_ends_in_a_newline():
    data = apply_content(NOVA_CELLS, "text", False, b"ignored")
    assert data.decode().splitlines() == [x for x in NOVA_CELLS if x != "..."]
    assert data.endswith(b"enable = True\n")
    assert apply_content([], "text", False, None) == b""
    assert check_content(NOVA_CELLS, "text", False, data).ok


def test_whole_file_check_lets_the_ellipsis_take_lines_and_nothing_else():
    data = apply_content(NOVA_CELLS, FileFormat.INI, False, None)
    grown = data.replace(b"[database]", b"debug = True\nlog_dir = /var/log\n[database]")
    assert check_content(NOVA_CELLS, "ini", False, grown).ok
    changed = data.replace(b"name = child", b"name = region")
    m = check_content(NOVA_CELLS, "ini", False, changed)
    assert not m.ok and m.first_bad == 8
    assert {"-name = child", "+name = region"} <= set(m.diff.splitlines())
    missing = data.replace(b"enable = True\n", b"")
    assert check_content(NOVA_CELLS, "ini", False, missing).first_bad == 10
    # whole files are literal: a line that looks like a pattern is just text
    page = ["pattern = .* (re)", "mac = 02:42:ac:50:00:02"]
    written = apply_content(page, "text", False, None)
    assert check_content(page, "text", False, written).ok
    assert not check_content(page, "text", False, b"pattern = x (re)\nmac = 02:42:ac:50:00:03\n").ok


# -- INI ------------------------------------------------------------------------------
NOVA = b"""# nova.conf, as the package installs it
[DEFAULT]
# Path to the flag file for the DHCP bridge
dhcpbridge_flagfile = /etc/nova/nova-dhcpbridge.conf
debug = false
# Filters, one option per line (a multi-valued option)
scheduler_default_filters = RamFilter
scheduler_default_filters = ComputeFilter

[database]
connection = sqlite:////var/lib/nova/nova.sqlite

[cells]
# cells are off by default
enable = False
"""


def test_ini_merge_sets_only_the_shown_keys_and_keeps_the_rest():
    page = [
        "[DEFAULT]",
        "dhcpbridge_flagfile",
        "...",
        "[cells]",
        "name = region",
        "cell_type = api",
        "enable = True",
    ]
    out = apply_content(page, "ini", True, NOVA).decode()
    assert out == NOVA.decode().replace(
        "dhcpbridge_flagfile = /etc/nova/nova-dhcpbridge.conf", "dhcpbridge_flagfile"
    ).replace("enable = False\n", "enable = True\nname = region\ncell_type = api\n")
    assert check_content(page, "ini", True, out.encode()).ok
    assert apply_content(page, "ini", True, out.encode()).decode() == out  # idempotent


def test_ini_merge_of_a_multi_valued_option_replaces_all_its_values():
    page = [
        "[DEFAULT]",
        "scheduler_default_filters = AvailabilityZoneFilter",
        "scheduler_default_filters = RamFilter",
        "scheduler_default_filters = ComputeFilter",
    ]
    out = apply_content(page, "ini", True, NOVA).decode()
    assert out.count("scheduler_default_filters") == 3
    assert (
        out.index("AvailabilityZoneFilter")
        < out.index("= RamFilter")
        < out.index("= ComputeFilter")
        < out.index("[database]")
    )
    fewer = apply_content(page[:2], "ini", True, NOVA).decode()
    assert fewer.count("scheduler_default_filters") == 1
    assert "# Filters, one option per line" in fewer
    m = check_content(page, "ini", True, fewer.encode())
    assert not m.ok and m.first_bad == 1
    assert "-scheduler_default_filters = ComputeFilter" in m.diff.splitlines()


def test_ini_merge_adds_sections_and_implicit_default_keys():
    out = apply_content(
        ["verbose = true", "[api_database]", "connection = mysql://"], "ini", True, NOVA
    ).decode()
    lines = out.splitlines()
    # after the last key of [DEFAULT], before the blank line that ends the section
    assert lines[lines.index("scheduler_default_filters = ComputeFilter") + 1] == "verbose = true"
    assert lines[-3:] == ["", "[api_database]", "connection = mysql://"]
    fresh = apply_content(["verbose = true", "[x]", "a = 1"], "ini", True, None).decode()
    assert fresh == "verbose = true\n\n[x]\na = 1\n"
    explicit = apply_content(["[DEFAULT]", "k = v"], "ini", True, b"[x]\na = 1\n").decode()
    assert explicit == "[DEFAULT]\nk = v\n\n[x]\na = 1\n"


def test_ini_merge_keeps_comments_continuations_and_spacing():
    out = apply_content(["[identity]", "driver = ldap"], "ini", True, KEYSTONE)
    assert out == KEYSTONE.replace(b"driver = sql", b"driver = ldap")
    tox = b"[testenv]\ninstall_command =\n    pip install -U {opts} {packages}\ndeps = x\n"
    out = apply_content(["[testenv]", "install_command = pip install {packages}"], "ini", True, tox)
    assert out == b"[testenv]\ninstall_command = pip install {packages}\ndeps = x\n"


def test_ini_check_after_a_later_change_says_what_the_node_has():
    page = ["[cells]", "name = region", "cell_type = api"]
    applied = apply_content(page, "ini", True, NOVA)
    assert check_content(page, "ini", True, applied.replace(b"name = region", b"name=region")).ok
    m = check_content(page, "ini", True, applied.replace(b"name = region", b"name = child"))
    assert not m.ok and m.first_bad == 1
    assert {"-name = region", "+name = child"} <= set(m.diff.splitlines())
    gone = check_content(page, "ini", True, applied.replace(b"cell_type = api\n", b""))
    assert gone.first_bad == 2 and "-cell_type = api" in gone.diff.splitlines()
    no_section = check_content(page, "ini", True, b"[DEFAULT]\n")
    assert {"-[cells]", "-name = region"} <= set(no_section.diff.splitlines())
    bare = check_content(["[DEFAULT]", "dhcpbridge_flagfile"], "ini", True, NOVA)
    assert not bare.ok  # the file gives it a value; the page shows a bare key


@pytest.mark.parametrize(
    "content,line",
    [
        (["[DEFAULT]", "debug = true", "this is not ini"], 2),
        (["...", "[DEFAULT]", "...", "[broken"], 3),
        (["  continues nothing"], 0),
    ],
)
def test_bad_ini_is_a_directive_error_at_its_line(content, line):
    for merge in (False, True):
        with pytest.raises(DirectiveError) as err:
            apply_content(content, "ini", merge, None)
        assert err.value.line == line
        assert "key = value" in err.value.message


def test_scan_ini_items():
    items = scan_ini(["k = v", "[s]", "; note", "bare", "multi =", "  a", "  b", ""])
    assert [(i.kind, i.section, i.key, i.value) for i in items] == [
        ("entry", "DEFAULT", "k", "v"),
        ("header", "s", "", None),
        ("comment", "s", "", None),
        ("entry", "s", "bare", None),
        ("entry", "s", "multi", "\na\nb"),
        ("blank", "s", "", None),
    ]


# -- YAML -----------------------------------------------------------------------------
GLOBALS = b"""---
# kolla-ansible globals
openstack_release: "6.0.0"   # what to deploy
kolla_internal_vip_address: "10.10.13.3"
network_interface: "eth0"
enable_services:
  - nova
  - neutron
nova:
  # compute settings
  virt_type: kvm
  cpu_mode: host-passthrough
"""


def test_yaml_merge_keeps_comments_quotes_and_indentation():
    page = [
        'openstack_release: "7.0.0"',
        "...",
        "nova:",
        "  virt_type: qemu",
        "enable_services:",
        "- glance",
    ]
    out = apply_content(page, "yaml", True, GLOBALS).decode()
    assert out == GLOBALS.decode().replace('"6.0.0"', '"7.0.0"').replace(
        "  - nova\n  - neutron\n", "  - glance\n"
    ).replace("virt_type: kvm", "virt_type: qemu")
    assert check_content(page, "yaml", True, out.encode()).ok
    assert apply_content(page, "yaml", True, out.encode()).decode() == out


def test_yaml_merge_adds_nested_keys_and_starts_from_nothing():
    page = ["nova:", "  console: spice", "neutron_plugin_agent: opendaylight"]
    out = apply_content(page, "yaml", True, GLOBALS).decode()
    assert "  cpu_mode: host-passthrough\n  console: spice\n" in out
    assert out.endswith("neutron_plugin_agent: opendaylight\n")
    assert apply_content(page, "yaml", True, None).decode() == "\n".join(page) + "\n"


def test_yaml_check_reports_changed_and_missing_keys():
    page = ["nova:", "  virt_type: qemu", "enable_services: [glance]"]
    applied = apply_content(page, "yaml", True, GLOBALS)
    m = check_content(page, "yaml", True, applied.replace(b"virt_type: qemu", b"virt_type: kvm"))
    assert not m.ok and m.first_bad == 1
    assert {"-  virt_type: qemu", "+  virt_type: kvm"} <= set(m.diff.splitlines())
    m = check_content(page, "yaml", True, applied.replace(b"[glance]", b"[glance, nova]"))
    assert not m.ok and m.first_bad == 2
    m = check_content(page, "yaml", True, b"enable_services: [glance]\n")
    assert not m.ok and m.first_bad == 0 and "-nova:" in m.diff.splitlines()
    broken = check_content(page, "yaml", True, b"nova: [\n")
    assert not broken.ok and "not valid YAML" in broken.diff


def test_yaml_with_tags_it_does_not_know():
    passwords = b"keystone_admin_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6134\n"
    page = ["database_password: secret", "rabbitmq: !Sub [a, b]"]
    out = apply_content(page, "yaml", True, passwords)
    assert out.startswith(passwords)  # the vault tag and its block survive
    assert check_content(page, "yaml", True, out).ok
    assert not check_content(page, "yaml", True, out.replace(b"[a, b]", b"[a, c]")).ok
    assert check_content(
        ["keystone_admin_password: !vault |", "  $ANSIBLE_VAULT;1.1;AES256", "  6134"],
        "yaml",
        True,
        out,
    ).ok


def test_bad_yaml_is_a_directive_error_and_a_broken_file_a_lab_error():
    with pytest.raises(DirectiveError) as err:
        apply_content(["a: 1", "...", "b: [1, 2", "c: 3"], "yaml", False, None)
    assert err.value.line in (2, 3)
    with pytest.raises(LabbookError) as lab:
        apply_content(["a: 1"], "yaml", True, b"a: [\n")
    assert not isinstance(lab.value, DirectiveError)
    assert "existing file" in lab.value.message


# -- JSON -----------------------------------------------------------------------------
CNI_CONF = b"""{
    "cniVersion": "0.4.0",
    "name": "mynet",
    "type": "bridge",
    "bridge": "cni0",
    "ipam": {
        "type": "host-local",
        "subnet": "10.22.0.0/16",
        "routes": [{"dst": "0.0.0.0/0"}]
    }
}
"""


def test_json_merge_by_key_path_keeps_order_and_indent():
    page = ['{"ipam": {"subnet": "10.23.0.0/16", "routes": []}, "isGateway": true}']
    out = apply_content(page, "json", True, CNI_CONF).decode()
    data = json.loads(out)
    assert list(data) == ["cniVersion", "name", "type", "bridge", "ipam", "isGateway"]
    assert data["ipam"] == {"type": "host-local", "subnet": "10.23.0.0/16", "routes": []}
    assert out.startswith('{\n    "cniVersion"') and out.endswith("}\n")
    assert check_content(page, "json", True, out.encode()).ok
    fresh = apply_content(["{", '  "a": {"b": 1}', "}"], "json", True, None).decode()
    assert fresh == '{\n  "a": {\n    "b": 1\n  }\n}\n'


def test_json_check_reports_what_changed():
    page = ["{", '  "ipam": {"subnet": "10.23.0.0/16"},', '  "isGateway": true', "}"]
    applied = apply_content(page, "json", True, CNI_CONF)
    m = check_content(page, "json", True, applied.replace(b"10.23.", b"10.24."))
    assert not m.ok and m.first_bad == 1
    assert '+    "subnet": "10.24.0.0/16"' in m.diff.splitlines()
    m = check_content(page, "json", True, applied.replace(b'"isGateway": true', b'"x": 1'))
    assert not m.ok and m.first_bad == 2


def test_bad_json_is_a_directive_error_at_its_line():
    with pytest.raises(DirectiveError) as err:
        apply_content(["{", '  "a": 1,', "...", '  "b": }'], "json", True, CNI_CONF)
    assert err.value.line == 3
    with pytest.raises(LabbookError):
        apply_content(['{"a": 1}'], "json", True, b"{not json")


def test_text_cannot_be_merged():
    with pytest.raises(DirectiveError) as err:
        apply_content(["x"], "text", True, None)
    assert ":format: ini" in err.value.message


_key = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
_value = st.text(alphabet="abc 123/:.-", max_size=10).map(str.strip).filter(bool)


@given(
    st.dictionaries(st.tuples(st.sampled_from(["DEFAULT", "a", "b"]), _key), _value, max_size=6),
    st.dictionaries(
        st.tuples(st.sampled_from(["DEFAULT", "a", "c"]), _key), _value, min_size=1, max_size=6
    ),
)
def test_ini_merge_then_check_always_passes(existing, shown):
    def render(entries: dict[tuple[str, str], str]) -> list[str]:
        out: list[str] = []
        for section in ("DEFAULT", "a", "b", "c"):
            keys = [(k, v) for (s, k), v in entries.items() if s == section]
            if keys:
                out += [f"[{section}]", *(f"{k} = {v}" for k, v in keys)]
        return out

    page = render(shown)
    data = apply_content(page, "ini", True, "\n".join(render(existing)).encode())
    assert check_content(page, "ini", True, data).ok
    kept = {k: v for k, v in existing.items() if k not in shown}
    for (_section, key), value in kept.items():
        assert f"{key} = {value}" in data.decode()
