"""What a reader of a built site sees: node names on console blocks, one not-run notice a
page, marks that can be read, accessible diagrams, each lab's spec and command, a report
that says what ran where and when, and pages that load nothing from the network.

The site (tests/roots/test-site) runs its labs on the fake provider: the lab is not the
point here, so these tests need no root.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOTS
from sphinx.testing.util import SphinxTestApp

from sphinxext.labbook import __version__

CSS = Path(__file__).parent.parent / "sphinxext" / "labbook" / "sphinx" / "static" / "labbook.css"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test-site project built once to HTML; its output directory."""
    src = tmp_path_factory.mktemp("site") / "src"
    shutil.copytree(ROOTS / "test-site", src)
    return build(src, src / "_build", freshenv=True)


def build(src: Path, builddir: Path, freshenv: bool = False) -> Path:
    """Build ``src`` to HTML under ``builddir``; the output directory."""
    app = SphinxTestApp("html", srcdir=src, builddir=builddir, freshenv=freshenv)
    try:
        app.build()
    finally:
        app.cleanup()
    return Path(app.outdir)


def page(site: Path, name: str) -> str:
    return (site / f"{name}.html").read_text()


def body(site: Path, name: str) -> str:
    """The page's content, without the sidebar and navigation."""
    text = page(site, name)
    return text[text.index('<div class="body"') : text.index('<div class="sphinxsidebar"')]


class Tags(HTMLParser):
    """Every start tag of a page: (tag, attributes)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def captions(html: str) -> list[str]:
    return re.findall(r'<span class="caption-text">([^<]*)</span>', html)


def test_console_blocks_name_their_node(site: Path) -> None:
    assert captions(body(site, "run")) == [
        "On alpha",
        "On beta, in the background",
        "The same command (on beta)",
        "On alpha",
    ]


def test_each_step_block_has_a_stable_id(site: Path) -> None:
    html = body(site, "run")
    ids = re.findall(r'<div class="labbook-step [^"]*" id="([^"]+)"', html)
    # the hidden step keeps its number (an empty block), the lab's second appearance goes on
    assert ids == ["pair-1", "pair-2", "pair-3", "pair-4", "pair-5"]


def test_a_page_says_why_its_labs_did_not_run_once(site: Path) -> None:
    html = body(site, "notrun")
    # two labs on the page, both not run for the same reason: one notice, at the first
    assert html.count('class="labbook-notice') == 1
    assert html.count("provider is not available here: QEMU-is-missing") == 1
    assert html.count('<p class="labbook-mark labbook-skipped"><span>not run</span></p>') == 3


def test_console_blocks_no_lab_runs_are_marked_illustrations(site: Path) -> None:
    html = body(site, "run")
    assert html.count("labbook-illustration") == 1
    block = html.index("openstack")
    assert html.index("illustration, not run", block) < html.index("pair-5", block)


def _luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_is_computed_as_wcag_says() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # fails AA


def test_marks_and_notices_have_aa_contrast_on_white() -> None:
    css = re.sub(r"/\*.*?\*/", "", CSS.read_text(), flags=re.DOTALL)
    rules = re.findall(r"([^{}]+)\{([^}]*)\}", css)
    coloured = {
        sel.strip(): m[1]
        for sel, decls in rules
        if (m := re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", decls))
    }
    for selector in ("p.labbook-passed", "p.labbook-skipped", "p.labbook-error"):
        assert any(selector in s for s in coloured), f"no colour for {selector}"
    assert len(coloured) >= 6
    for selector, colour in coloured.items():
        assert contrast(colour, "#ffffff") >= 4.5, f"{selector}: {colour}"
    assert "opacity" not in css  # it would lower every contrast above


def test_graphviz_diagrams_are_images_with_labels(site: Path) -> None:
    objects = [a for t, a in Tags(body(site, "diagrams")).tags if t == "object"]
    labels = [(a.get("role"), a.get("aria-label")) for a in objects]
    assert labels == [
        ("img", "Topology of lab pair: nodes alpha, beta; networks lan"),
        # :around: cells draws cells and its neighbour hosts, not flavors
        ("img", "Schema diagram: 2 tables: cells, hosts"),
        ("img", "A drawn by hand"),  # no alt text: the figure's caption
    ]


def test_mermaid_diagrams_carry_a_title_and_description(site: Path) -> None:
    html = body(site, "diagrams")
    assert "accTitle: Topology of lab pair\n" in html
    assert "accDescr: Topology of lab pair: nodes alpha, beta; networks lan\n" in html
    assert "accDescr: Schema diagram: 3 tables: cells, flavors, hosts\n" in html
    # right after the diagram type, where mermaid's grammar takes them
    assert re.search(r"erDiagram\n\s*accTitle: Schema diagram\n", html)


def test_a_labs_first_appearance_says_where_its_spec_is_and_how_to_run_it(site: Path) -> None:
    html = body(site, "run")
    assert html.count('class="labbook-lab-source"') == 1  # pair.yaml twice, said once
    para = re.search(r'<p class="labbook-lab-source">(.*?)</p>', html, re.DOTALL)[1]
    text = re.sub(r"<[^>]+>", "", para)
    assert text == (
        "Lab spec pair.yaml (download); bring it up yourself with "
        "labbook up --provider fake pair.yaml."
    )
    # the lab's own provider options go with the command
    other = re.sub(r"<[^>]+>", "", body(site, "notrun"))
    assert "labbook up --provider fake -o unavailable=QEMU-is-missing pair.yaml." in other
    href = re.search(r'href="(_downloads/[^"]+)"', para)[1]
    assert (site / href).read_bytes() == (ROOTS / "test-site" / "pair.yaml").read_bytes()


def test_the_report_says_what_where_and_when(site: Path) -> None:
    html = body(site, "report")
    facts = dict(
        re.findall(r'<dt class="[^"]*">([^<]+)<span class="colon">.*?<p>([^<]*)</p>', html, re.S)
    )
    assert facts["labbook"] == __version__
    assert facts["Providers"] == "fake"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", facts["Date"])
    assert facts["Kernel"].startswith("Linux ")
    assert "Commit" not in facts  # the project is not in git
    # per-chapter counts come first, in the marks' words
    summary = html.index("labbook-summary")
    assert summary < html.index('<th class="head"><p>Document</p>')
    rows = re.findall(
        r"<tr[^>]*><td[^>]*><p>([^<]+)</p></td>\s*" + r"<td[^>]*><p>(\d+)</p></td>\s*" * 4, html
    )
    assert rows == [  # a chapter is the caption of the toctree listing it, else its title
        ("Labs this machine cannot run", "0", "0", "0", "3"),
        ("Labs", "5", "0", "0", "0"),
        ("All", "5", "0", "0", "3"),
    ]
    assert "These counts include 1 hidden step" in html


def test_report_rows_link_to_their_own_block_and_say_why(site: Path) -> None:
    html = body(site, "report")
    links = re.findall(r'class="reference internal" href="([^"]+)"', html)
    assert links == [f"notrun.html#pair-{i}" for i in (1, 2, 3)] + [
        f"run.html#pair-{i}" for i in (1, 2, 3, 4, 5)
    ]
    for link in links:  # every anchor is on its page
        name, anchor = link.split("#")
        assert f'id="{anchor}"' in (site / name).read_text()
    words = re.findall(r'<td class="labbook-(\w+)"><p><span>([^<]+)</span>', html)
    assert words == [("skipped", "not run")] * 3 + [("passed", "verified")] * 5
    assert html.count("the fake provider is not available here: QEMU-is-missing") == 3
    assert "run (hidden)" in html
    assert "passed" not in re.sub(r"<[^>]+>", "", html) and "skipped" not in re.sub(
        r"<[^>]+>", "", html
    )


def test_no_page_names_anything_outside_the_site(site: Path) -> None:
    assert (site / "_static" / "mermaid.min.js").stat().st_size > 1_000_000
    for html in site.rglob("*.html"):
        for tag, attrs in Tags(html.read_text()).tags:
            for key in ("src", "href", "data"):
                value = attrs.get(key, "")
                if tag == "a" and key == "href":
                    continue  # links a reader follows, not loaded by the page
                assert not re.match(r"([a-z]+:)?//", value), f"{html.name}: <{tag} {key}={value}>"
        assert "cdn.jsdelivr" not in html.read_text() and "import mermaid" not in html.read_text()


# -- in a real browser --------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
NEEDS_CHROMIUM = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed "
    "(bindep.txt, profile test: python tools/system-deps test installs them)",
)


@pytest.fixture
def browser(tmp_path: Path):
    """Headless chromium that cannot reach any network: every host name resolves to
    nothing and every connection goes to a proxy that is not there."""
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,900",
    ):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses root otherwise
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def requested(driver) -> list[str]:
    """Every URL the site's pages (and the documents in them) asked for, from the DevTools
    protocol's Network events; the browser's own pages (chrome://) are left out."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent" and params.get(
            "documentURL", ""
        ).startswith("file:"):
            urls.append(params["request"]["url"])
    return urls


@NEEDS_CHROMIUM
@pytest.mark.parametrize("name", ["run", "diagrams"])
def test_diagrams_render_offline_in_chromium(site: Path, browser, name: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((site / f"{name}.html").as_uri())
    diagrams = "document.querySelectorAll('.mermaid')"
    total = browser.execute_script(f"return {diagrams}.length")
    assert total >= 1
    # mermaid replaces each diagram's text by an SVG; raw text left means it did not run
    WebDriverWait(browser, 60).until(
        lambda d: d.execute_script(
            f"return [...{diagrams}].every(e => e.querySelector('svg') !== null)"
        ),
        message=f"mermaid left raw text: {browser.get_log('browser')}",
    )
    svgs = browser.execute_script(
        f"""return [...{diagrams}].map(e => {{
            const svg = e.querySelector('svg');
            const label = svg.querySelector('.nodeLabel, .label text, text');
            return {{role: svg.getAttribute('role') || '',
                     title: (svg.querySelector('title') || {{}}).textContent || '',
                     text: [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE)
                              .map(n => n.textContent).join('').trim(),
                     label: label ? label.getBoundingClientRect().height : 0}};
        }})"""
    )
    for svg in svgs:
        assert not svg["text"], svg  # no diagram source left on the page
        assert svg["title"].startswith(("Topology of lab pair", "Schema diagram")), svg
        assert svg["label"] >= 10, f"diagram text {svg['label']:.1f} px high"  # legible
    if name == "diagrams":  # graphviz's SVG objects load too
        loaded = browser.execute_script(
            "return [...document.querySelectorAll('object')].map(o => o.getAttribute('role'))"
        )
        assert loaded == ["img", "img", "img"]
    urls = requested(browser)
    assert [u for u in urls if not u.startswith(("file:", "data:", "blob:"))] == []
    assert any(re.search(r"/_static/mermaid\.min\.js(\?|$)", u) for u in urls), urls


def test_the_report_names_the_commit_of_a_project_in_git(tmp_path: Path) -> None:
    import subprocess

    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-site", src)
    (src / "conf.py").write_text((src / "conf.py").read_text() + 'labbook_execute = "off"\n')
    git = ["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "site"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    html = (build(src, tmp_path / "build", freshenv=True) / "report.html").read_text()
    assert f"<p>{head}</p>" in html
    # why a step did not run, without the "not run" its result already says
    assert html.count("<td><p>labbook_execute is off</p></td>") == 8
    # a project with changes not committed says so
    (src / "run.rst").write_text((src / "run.rst").read_text() + "\nMore.\n")
    html = (build(src, tmp_path / "build") / "report.html").read_text()
    assert f"<p>{head} (with uncommitted changes)</p>" in html


@pytest.mark.sphinx("html", testroot="topology", freshenv=True)
def test_without_mermaidx_the_build_says_diagrams_load_from_the_network(app, monkeypatch):
    """mermaidx is a requirement; an environment that lacks it is told what it gets."""
    from sphinxext.labbook.sphinx import diagrams

    monkeypatch.setattr(diagrams, "mermaid_js_source", lambda: None)
    diagrams.on_builder_inited(app)
    assert "pip install mermaidx" in app.warning.getvalue()
    assert "[labbook.mermaid]" in app.warning.getvalue()
    assert not diagrams._serves_mermaid(app)


def test_a_project_that_names_its_mermaid_keeps_it(make_app, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-topology", src)
    with open(src / "conf.py", "a") as f:
        f.write('mermaid_version = "11.12.1"\n')
    app = make_app("html", srcdir=src, freshenv=True)
    app.build()
    page = (Path(app.outdir) / "index.html").read_text()
    assert re.search(r"https://[^\"]+/mermaid@11\.12\.1/", page)  # its CDN, as it said
    assert not (Path(app.outdir) / "_static" / "mermaid.min.js").exists()
