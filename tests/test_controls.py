"""Control characters in a step's output: junit.xml stays valid XML, the HTML and the
terminal get them visibly escaped, the JSON report keeps them as they were."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOTS

from sphinxext.labbook.cli import main
from sphinxext.labbook.controls import NOTE, visible

#: What must never reach XML, HTML or a terminal raw (tab and newline may).
RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x01b", "a\\x01b"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("tab\tand\nnewline\r\n", "tab\tand\nnewline\r\n"),
        ("lone\rcr", "lone\\x0dcr"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("non\ufffechar \udcff", "non\\ufffechar \\udcff"),
        ("ünïcödé ✓ \U0001f600", "ünïcödé ✓ \U0001f600"),
    ],
)
def test_visible(text, shown):
    assert visible(text) == shown
    assert not RAW.search(visible(text))


def test_junit_stays_valid_xml_and_the_terminal_gets_no_escape(tmp_path: Path, capsys):
    root = tmp_path / "controls"
    shutil.copytree(ROOTS / "test-lab-controls", root)
    junit, report = tmp_path / "junit.xml", tmp_path / "r.json"
    assert main(["check", str(root), "--junit", str(junit), "--json", str(report)]) == 1
    out, err = capsys.readouterr()
    data = junit.read_text(encoding="utf-8")
    assert not RAW.search(data)
    failure = ET.parse(junit).find(".//failure")  # parses: valid XML 1.0
    assert failure is not None and failure.text is not None
    assert "+a\\x01b red del\\x7f bell\\x07" in failure.text
    assert "\\ufffe" in failure.text and "\\x9b" in failure.text
    assert f"({NOTE})" in failure.text
    assert not RAW.search(out + err)
    assert "a\\x01b" in err and NOTE in err
    # the JSON report keeps the bytes as the lab printed them (JSON escapes them itself)
    diffs = [s["diff"] for s in json.loads(report.read_text())["steps"]]
    assert any("a\x01b red del\x7f bell\x07" in d for d in diffs)


@pytest.mark.sphinx("html", testroot="lab-controls", freshenv=True)
def test_html_shows_control_characters_visibly(app):
    app.build()
    html = (Path(app.outdir) / "index.html").read_text(encoding="utf-8")
    assert not RAW.search(html)
    assert "a\\x01b red del\\x7f bell\\x07" in html
    assert NOTE in html
