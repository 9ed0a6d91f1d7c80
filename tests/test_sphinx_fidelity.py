"""The fidelity table: per article, commands run verbatim, run changed, shown not run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import warnings_of

from sphinxext.labbook.sphinx.fidelity import _entries, summary


def rows(html: str) -> list[list[str]]:
    table = html[html.index('class="labbook-fidelity') :]
    table = table[: table.index("</table>")]
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        out.append([re.sub(r"<[^>]+>", "", c).strip() for c in cells])
    return out


@pytest.mark.sphinx("html", testroot="fidelity", freshenv=True)
def test_the_table_counts_each_articles_commands_by_how_they_are_run(app):
    app.build()
    assert "WARNING" not in warnings_of(app)
    entries = [e for docs in _entries(app.env).values() for e in docs]
    assert summary(entries) == {
        "Celdas": {"verbatim": 1, "changed": 0, "not-run": 0},
        "Tipos de red": {"verbatim": 2, "changed": 1, "not-run": 2},
    }
    index = (Path(app.outdir) / "index.html").read_text()
    assert rows(index) == [
        ["Article", "Run verbatim", "Run with a change", "Shown, not run"],
        ["Celdas", "1", "0", "0"],
        ["Tipos de red", "2", "1", "2"],
        ["All articles", "3", "1", "2"],
    ]
    # every change and reason, with where it is
    assert "chapter:17</a> (Tipos de red, 1 command changed): the image is built in the lab" in (
        index
    )
    assert "(Tipos de red, 2 commands not run): needs a running Nova" in index
    chapter = (Path(app.outdir) / "chapter.html").read_text()
    assert 'href="https://example.org/tipos-de-red"' in chapter
    assert "not run: needs a running Nova" in chapter
    assert "nova-manage" in chapter and "labbook-console" in chapter


BAD = {
    "both": (
        ".. lab-run:: alpha\n   :verbatim:\n   :changed: why\n\n   $ echo alpha\n   alpha\n",
        "':verbatim:' and ':changed:' exclude each other",
    ),
    "nosource": (
        ".. lab-run:: alpha\n   :verbatim:\n\n   $ echo alpha\n   alpha\n",
        "which article are these commands from? put '.. labbook-source:: TITLE'",
    ),
    "noreason": (
        ".. lab-not-run::\n   :source: A\n\n   $ nova list\n",
        "lab-not-run needs ':reason: WHY'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_wrong_fidelity_option_is_one_warning_at_its_block(make_app, rootdir, tmp_path, case):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(rootdir / "test-fidelity", src)
    text, message = BAD[case]
    (src / "other.rst").write_text("Other\n=====\n\n.. lab:: pair.yaml\n\n" + text)
    app = make_app("html", srcdir=src, freshenv=True)
    app.build()
    warnings = [w for w in warnings_of(app).splitlines() if "WARNING" in w]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"{src / 'other.rst'}:6: WARNING: "), warnings
    assert message in warnings[0]
    entries = _entries(app.env).get("other", [])
    assert entries == []
