"""Topology diagrams: the DOT/mermaid renderer, ``labbook graph`` and the ``topology`` directive."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import MERMAID

from sphinxext.labbook import cli
from sphinxext.labbook.render.topology import diagram, to_dot, to_mermaid
from sphinxext.labbook.spec import LabSpec, load_spec, parse_spec

REPO = Path(__file__).resolve().parent.parent
HAVE_DOT = shutil.which("dot") is not None
NEEDS_DOT = pytest.mark.skipif(
    not HAVE_DOT, reason="needs Graphviz's dot (Debian package graphviz, listed in bindep.txt)"
)

PAIR = """\
name: pair
networks:
  lan: {cidr: 10.0.0.0/24, address: 10.0.0.254/24}
nodes:
  alpha:
    interfaces:
      eth0: {network: lan, address: 10.0.0.1/24}
  beta:
    hostname: bravo
    interfaces:
      eth0: {network: lan, address: 10.0.0.2/24}
"""

MACVLAN = """\
name: macvlan
networks:
  lan: {cidr: 10.0.2.0/24}
nodes:
  host:
    interfaces:
      eth0: {network: lan, address: 10.0.2.15/24}
  c1:
    interfaces:
      mv0: {type: macvlan, parent: "host:eth0", mode: private, address: 10.0.2.101/24}
  c2:
    interfaces:
      ipv0: {type: ipvlan, parent: "host:eth0", mode: l3}
"""

VLAN = """\
name: vlan
networks:
  trunk: {cidr: 10.0.10.0/24, vlan_filtering: true}
nodes:
  sw:
    interfaces:
      eth0: {network: trunk, vlan: 10, address: 10.0.10.1/24}
      eth0.20: {type: vlan, parent: eth0, id: 20, address: 10.0.20.1/24}
"""

P2P = """\
name: p2p
nodes:
  r1: {}
  r2: {}
links:
  - endpoints: ["r1:eth1", "r2:eth1"]
    mtu: 9000
"""

HOSTMODE = """\
name: hostmode
networks:
  wan: {cidr: 192.0.2.0/24}
nodes:
  gw:
    network-mode: host
    interfaces:
      uplink: {network: wan, address: 192.0.2.1/24, mtu: 1400}
  lonely: {}
"""

SHAPES = {"pair": PAIR, "macvlan": MACVLAN, "vlan": VLAN, "p2p": P2P, "hostmode": HOSTMODE}


def spec_of(text: str) -> LabSpec:
    return parse_spec(text, "lab.yaml")


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def dot_edges(spec: LabSpec) -> list[str]:
    return [x for x in lines(to_dot(spec)) if " -- " in x]


# -- the renderer -------------------------------------------------------------------------


def test_bridge_pair():
    spec = spec_of(PAIR)
    dot = lines(to_dot(spec))
    assert dot[0] == 'graph "pair" {'
    net = next(x for x in dot if x.startswith('"net:lan"'))
    assert "<B>lan</B><BR/>bridge 10.0.0.0/24<BR/>address 10.0.0.254/24" in net
    alpha = next(x for x in dot if x.startswith('"node:alpha"'))
    assert '<TD PORT="p0" ALIGN="left" BALIGN="left"><B>eth0</B><BR/>10.0.0.1/24</TD>' in alpha
    beta = next(x for x in dot if x.startswith('"node:beta"'))
    assert "<B>beta</B><BR/>hostname bravo" in beta
    assert "hostname" not in alpha
    assert dot_edges(spec) == ['"node:alpha":"p0" -- "net:lan";', '"node:beta":"p0" -- "net:lan";']

    mm = lines(to_mermaid(spec))
    assert mm[0] == "flowchart LR"
    assert 'w_lan(["<b>lan</b><br/>bridge 10.0.0.0/24<br/>address 10.0.0.254/24"])' in mm
    assert 'subgraph n_beta ["<b>beta</b><br/>hostname bravo"]' in mm
    assert 'n_alpha__p0["<b>eth0</b><br/>10.0.0.1/24"]' in mm
    assert [x for x in mm if "---" in x and not x.startswith("---")] == [
        "n_alpha__p0 --- w_lan",
        "n_beta__p0 --- w_lan",
    ]


def test_macvlan_parent_in_another_node():
    spec = spec_of(MACVLAN)
    assert dot_edges(spec) == [
        '"node:host":"p0" -- "net:lan";',
        '"node:c1":"p0" -- "node:host":"p0" [style="dashed", color="#555555", '
        'label="macvlan private"];',
        '"node:c2":"p0" -- "node:host":"p0" [style="dashed", color="#555555", label="ipvlan l3"];',
    ]
    mm = lines(to_mermaid(spec))
    assert 'n_c1__p0 -.-|"macvlan private"| n_host__p0' in mm
    assert 'n_c2__p0 -.-|"ipvlan l3"| n_host__p0' in mm


def test_macvlan_mode_defaults_to_bridge():
    spec = spec_of(MACVLAN.replace(", mode: private", ""))
    assert 'label="macvlan bridge"' in to_dot(spec)


def test_vlan_subinterface_and_access_port():
    spec = spec_of(VLAN)
    dot = lines(to_dot(spec))
    assert "vlan filtering" in next(x for x in dot if x.startswith('"net:trunk"'))
    assert dot_edges(spec) == [
        '"node:sw":"p0" -- "net:trunk" [label="access vlan 10"];',
        # parent on the same node: both ends on the west side, so the loop stays outside
        '"node:sw":"p1":w -- "node:sw":"p0":w [style="dashed", color="#555555", label="vlan 20"];',
    ]
    mm = lines(to_mermaid(spec))
    assert 'n_sw__p0 ---|"access vlan 10"| w_trunk' in mm
    assert 'n_sw__p1 -.-|"vlan 20"| n_sw__p0' in mm


def test_p2p_link_declares_its_interfaces():
    spec = spec_of(P2P)
    dot = lines(to_dot(spec))
    assert '"node:r1":"p0" -- "node:r2":"p0" [penwidth="2", label="mtu 9000"];' in dot
    r1 = next(x for x in dot if x.startswith('"node:r1"'))
    assert '<TD PORT="p0" ALIGN="left" BALIGN="left"><B>eth1</B></TD>' in r1
    assert 'n_r1__p0 ===|"mtu 9000"| n_r2__p0' in lines(to_mermaid(spec))


def test_host_mode_node_is_marked():
    spec = spec_of(HOSTMODE)
    dot = lines(to_dot(spec))
    gw = next(x for x in dot if x.startswith('"node:gw"'))
    assert 'STYLE="dashed"' in gw
    assert '<TD BGCOLOR="#f6e4bd"><B>gw</B><BR/>network-mode: host</TD>' in gw
    assert "<B>uplink</B><BR/>192.0.2.1/24<BR/>mtu 1400" in gw
    lonely = next(x for x in dot if x.startswith('"node:lonely"'))
    assert 'STYLE="dashed"' not in lonely
    mm = lines(to_mermaid(spec))
    assert "class n_gw hostmode" in mm
    assert 'subgraph n_gw ["<b>gw</b><br/>network-mode: host"]' in mm


def test_node_without_interfaces_is_a_plain_box():
    spec = spec_of(HOSTMODE)
    lonely = next(x for x in lines(to_dot(spec)) if x.startswith('"node:lonely"'))
    assert lonely.count("<TR>") == 1
    assert "PORT=" not in lonely
    mm = lines(to_mermaid(spec))
    assert 'n_lonely["<b>lonely</b>"]' in mm
    assert not any(x.startswith("subgraph n_lonely") for x in mm)


def test_direction_and_title():
    spec = spec_of(PAIR)
    dot = to_dot(spec, rankdir="TB", title='Pair "lab" <1>')
    assert 'graph [rankdir="TB",' in dot
    assert 'label=<Pair &quot;lab&quot; &lt;1&gt;>, labelloc="t"' in dot
    mm = to_mermaid(spec, direction="BT", title='Pair "lab"')
    assert mm.startswith('---\ntitle: "Pair \\"lab\\""\n---\nflowchart BT\n')
    with pytest.raises(ValueError, match="write one of LR, TB, RL, BT"):
        to_dot(spec, rankdir="sideways")
    with pytest.raises(ValueError, match="write one of"):
        to_mermaid(spec, direction="lr")


WEIRD = """\
name: weird
networks:
  end: {cidr: 10.0.0.0/24}
nodes:
  end:
    hostname: 'h"o\\st'
    interfaces:
      'e"t#<h>&0': {network: end, address: 10.0.0.1/24}
      'n': {type: vlan, parent: 'e"t#<h>&0', id: 5}
  o: {}
links:
  - endpoints: ["o:eth 1", "end:x:y"]
"""


def test_odd_names_are_escaped():
    spec = spec_of(WEIRD)
    dot = to_dot(spec, title='a\\b"c')
    assert "<B>e&quot;t#&lt;h&gt;&amp;0</B>" in dot
    assert "hostname h&quot;o\\st" in dot
    # ports are synthetic, so an interface called 'n' is not read as a compass point
    assert '"node:end":"p1":w -- "node:end":"p0":w' in dot
    mm = to_mermaid(spec)
    assert '"<b>e#34;t#35;#60;h#62;#38;0</b><br/>10.0.0.1/24"' in mm
    ids = re.findall(r"^\s*(?:subgraph )?([^\s\[(]+)[\[(]", mm, re.M)
    assert ids and all(re.fullmatch(r"[A-Za-z0-9_]+", i) for i in ids)
    assert "n_o__p0 === n_end__p2" in mm


@NEEDS_DOT
@pytest.mark.parametrize("shape", [*SHAPES, "weird"])
def test_graphviz_lays_out_every_shape(shape):
    spec = spec_of(SHAPES.get(shape, WEIRD))
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(spec, title=shape).encode(), capture_output=True, check=True
    ).stdout.decode()
    for node in spec.nodes:
        assert f">{html.escape(node.name, quote=False)}</text>" in svg


def test_output_is_sorted_whatever_the_spec_order():
    reordered = spec_of(
        textwrap.dedent("""\
        name: macvlan
        nodes:
          c2:
            interfaces:
              ipv0: {type: ipvlan, parent: "host:eth0", mode: l3}
          c1:
            interfaces:
              mv0: {type: macvlan, parent: "host:eth0", mode: private, address: 10.0.2.101/24}
          host:
            interfaces:
              eth0: {network: lan, address: 10.0.2.15/24}
        networks:
          lan: {cidr: 10.0.2.0/24}
        """)
    )
    original = spec_of(MACVLAN)
    assert [n.name for n in reordered.nodes] != [n.name for n in original.nodes]
    assert to_dot(reordered) == to_dot(original)
    assert to_mermaid(reordered) == to_mermaid(original)


RENDER_SNIPPET = """\
import sys
from sphinxext.labbook.render.topology import to_dot, to_mermaid
from sphinxext.labbook.spec import load_spec
spec = load_spec(sys.argv[1])
sys.stdout.write(to_dot(spec, title="t") + to_mermaid(spec, title="t"))
"""


def test_bytes_identical_across_hash_seeds(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(
        MACVLAN
        + textwrap.dedent("""\
          sw:
            network-mode: host
            interfaces:
              eth0: {network: lan, address: 10.0.2.1/24}
              eth0.20: {type: vlan, parent: eth0, id: 20}
        links:
          - endpoints: ["c1:eth1", "c2:eth1"]
        """)
    )
    outputs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outputs.append(
            subprocess.run(
                [sys.executable, "-c", RENDER_SNIPPET, str(path)],
                cwd=REPO,
                env=env,
                capture_output=True,
                check=True,
            ).stdout
        )
    spec = load_spec(path)
    assert outputs[0] == outputs[1]
    assert outputs[0] == (to_dot(spec, title="t") + to_mermaid(spec, title="t")).encode()
    assert len(diagram(spec).boxes) == 4


def test_renderer_imports_neither_sphinx_nor_docutils():
    code = (
        "import sys, sphinxext.labbook.render.topology; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sphinx', 'docutils')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- labbook graph --------------------------------------------------------------------------


@pytest.fixture
def pair_file(tmp_path: Path) -> Path:
    path = tmp_path / "pair.yaml"
    path.write_text(PAIR)
    return path


def test_graph_dot_to_stdout(pair_file, capsys):
    assert cli.main(["graph", str(pair_file)]) == 0
    out, err = capsys.readouterr()
    assert out == to_dot(load_spec(pair_file), title="pair")
    assert err == ""


def test_graph_mermaid_direction_and_title(pair_file, capsys):
    assert (
        cli.main(["graph", str(pair_file), "-f", "mermaid", "--rankdir", "TB", "--title", ""]) == 0
    )
    out = capsys.readouterr().out
    assert out == to_mermaid(load_spec(pair_file), direction="TB")
    assert out.startswith("flowchart TB\n")


@NEEDS_DOT
def test_graph_svg_to_file(pair_file, tmp_path, capsys):
    target = tmp_path / "out" / "pair.svg"
    assert cli.main(["graph", str(pair_file), "-f", "svg", "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    svg = target.read_text()
    assert "<svg" in svg and ">alpha</text>" in svg and ">10.0.0.2/24</text>" in svg
    assert sorted(p.name for p in target.parent.iterdir()) == ["pair.svg"]


@NEEDS_DOT
def test_graph_png_to_file(pair_file, tmp_path):
    target = tmp_path / "pair.png"
    assert cli.main(["graph", str(pair_file), "-f", "png", "-o", str(target)]) == 0
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_graph_without_graphviz_says_which_package(pair_file, tmp_path, monkeypatch, capsys):
    target = tmp_path / "pair.svg"
    target.write_text("the previous drawing")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert cli.main(["graph", str(pair_file), "-f", "svg", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "graphviz" in err and "apt-get install graphviz" in err
    assert len(err.strip().splitlines()) == 1
    # nothing half written: the old file is intact and no temporary file is left
    assert target.read_text() == "the previous drawing"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "pair.svg", "pair.yaml"]


def test_graph_bad_spec_exits_2_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PAIR.replace("{network: lan, address: 10.0.0.2/24}", "{network: lna, address: 10.0.0.2/24}")
    )
    target = tmp_path / "out.dot"
    assert cli.main(["graph", str(bad), "-o", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert re.fullmatch(
        rf"labbook: {re.escape(str(bad))}:11:\d+: unknown network 'lna'; "
        r"did you mean 'lan'\?\n",
        err,
    )
    assert not target.exists()


def test_graph_missing_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert cli.main(["graph", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labbook: {missing}: lab spec not found")


def test_graph_rejects_unknown_format(pair_file, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["graph", str(pair_file), "-f", "jpeg"])
    assert exc.value.code == 2
    assert "invalid choice: 'jpeg'" in capsys.readouterr().err


# -- the topology directive -------------------------------------------------------------------


@pytest.mark.sphinx("html", testroot="topology")
def test_directive_graphviz_and_mermaid(app):
    app.build()
    assert app.warning.getvalue() == ""
    page = (app.outdir / "index.html").read_text()
    images = re.findall(
        r'<object role="img" aria-label="[^"]*" data="_images/(graphviz-[0-9a-f]{40}\.svg)"', page
    )
    assert len(images) == 1
    svg = (app.outdir / "_images" / images[0]).read_text()
    assert ">alpha</text>" in svg and ">address 10.0.0.254/24</text>" in svg
    assert '<figure class="labbook-topology-figure align-center" id="fig-pair">' in page
    assert "Two nodes on a bridge" in page and "Fig. 1" in page
    mermaid = MERMAID.search(page)
    assert mermaid is not None
    code = html.unescape(mermaid.group("code"))
    assert "flowchart TB" in code
    assert 'n_c2__p0 -.-|"macvlan private"| n_host__p0' in code


@pytest.mark.sphinx(
    "html", testroot="topology", confoverrides={"labbook_topology_format": "mermaid"}
)
def test_directive_project_default_format(app):
    app.build()
    assert app.warning.getvalue() == ""
    page = (app.outdir / "index.html").read_text()
    assert "graphviz-" not in page
    assert len(MERMAID.findall(page)) == 2


@pytest.mark.sphinx("html", testroot="topology-broken")
def test_directive_spec_errors_warn_at_the_spec(app):
    app.build()
    warnings = app.warning.getvalue()
    spec = Path(app.srcdir) / "broken.yaml"
    doc = Path(app.srcdir) / "index.rst"
    assert (
        f"{spec}:7:23: WARNING: unknown network 'lna'; did you mean 'lan'? [labbook.spec]"
    ) in warnings
    assert (
        f"{doc}:4: WARNING: lab spec broken.yaml has errors (see above); "
        "no topology drawn [labbook.spec]"
    ) in warnings
    assert f"{doc}:6: WARNING: lab spec 'nowhere' not found" in warnings
    assert "Traceback" not in warnings
    page = (app.outdir / "index.html").read_text()
    assert "graphviz-" not in page and 'class="mermaid"' not in page


@pytest.mark.sphinx(
    "html", testroot="topology-broken", confoverrides={"suppress_warnings": ["labbook.spec"]}
)
def test_directive_spec_warnings_can_be_suppressed(app):
    app.build()
    warnings = app.warning.getvalue()
    assert "lna" not in warnings and "has errors" not in warnings
    assert "'nowhere' not found" in warnings


def test_directive_rereads_only_when_the_spec_changes(make_app, rootdir, tmp_path):
    srcdir = tmp_path / "topology"
    shutil.copytree(rootdir / "test-topology", srcdir)

    def build() -> list[str]:
        app = make_app("html", srcdir=srcdir)
        read: list[str] = []
        app.connect("env-before-read-docs", lambda app, env, docs: read.extend(docs))
        app.build()
        app.cleanup()  # unregister its nodes and directives before the next app registers them
        assert app.warning.getvalue() == ""
        return read

    assert build() == ["index"]
    assert build() == []
    spec = srcdir / "labs" / "macvlan.yaml"
    later = time.time() + 10  # an mtime after the last read, without waiting for the clock
    os.utime(spec, (later, later))
    assert build() == ["index"]
