"""The per-table reference (``schema-reference``) and lint, in Sphinx and on the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sphinxext.labbook.cli import main
from sphinxext.labbook.schema.lint import lint
from sphinxext.labbook.schema.reference import references
from sphinxext.labbook.schema.source import load_schema

SHOP = f"{Path(__file__).parent / 'data' / 'schema' / 'shop.py'}:Base"


def _warnings(app) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", app.warning.getvalue())
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.sphinx("html", testroot="schema-reference")
def test_reference_shows_each_table_and_lint_warns_at_the_directive(app):
    app.build()
    page = (Path(app.outdir) / "index.html").read_text()
    # columns with the type the dialect stores, NULL, default, keys, comments, docstring
    assert 'id="table-cells"' in page
    assert "A cell of compute hosts." in page and "Hypervisors, one row each." in page
    assert "Shown to operators." in page
    # the sqlite variant of cells.id, in the cell after the column's name
    assert re.search(
        r'>id</span></code></p></td>\s*<td><p><code [^>]*><span class="pre">INTEGER<', page
    )
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "state VARCHAR(8) NOT NULL 'up'" in text
    assert "name VARCHAR(64) NOT NULL UK Shown to operators." in text
    assert "hosts (cell_id) → cells (id) ON DELETE CASCADE" in text  # out of hosts, into cells
    assert page.count("Referenced by") == 1
    assert text.count("deleted_at") == 1  # hidden by :hide-columns: in the first reference
    warnings = _warnings(app)
    index = str(Path(app.srcdir) / "index.rst")
    lint = [w for w in warnings if "[labbook.schema-lint]" in w]
    assert lint == [
        f"{index}:4: WARNING: schema lint of models.py:Base: table audit: no primary key "
        "[no-primary-key] [labbook.schema-lint]",
        f"{index}:4: WARNING: schema lint of models.py:Base: table audit: no comment (nor a "
        "docstring on its model) [table-comment] [labbook.schema-lint]",
        f"{index}:4: WARNING: schema lint of models.py:Base: table hosts: foreign key (cell_id) "
        "-> cells has no index; deletes and joins on it scan the table [fk-without-index] "
        "[labbook.schema-lint]",
    ]
    bad = [w for w in warnings if "no-such-rule" in w]
    assert bad == [
        f"{index}:16: WARNING: schema-reference models.py:Base: unknown lint rule no-such-rule; "
        "write one of no-primary-key, fk-without-index, table-comment, column-comment "
        "[labbook.schema]"
    ]
    assert len(warnings) == 4, warnings


def test_reference_of_models_names_types_per_dialect_and_keys_both_ways():
    refs = {r.name: r for r in references(load_schema(SHOP), dialect="postgresql")}
    customer = refs["customer"]
    assert customer.comment == "People and companies that place orders."
    cols = {c.name: c for c in customer.columns}
    assert cols["last_address"].type == "INET" and cols["email"].keys == ("UK",)
    assert cols["email"].comment == "Login name."
    assert cols["deleted"].default is None  # a default only the application sets
    assert sorted(t for t, _ in customer.incoming) == ["customer", "orders", "profile"]
    assert "unique index ux_customer_email (email)" in customer.indexes


def test_each_lint_rule_fires_and_can_be_switched_off():
    schema = load_schema(SHOP)
    rules = {f.rule for f in lint(schema)}
    assert rules == {"fk-without-index", "table-comment", "column-comment"}
    assert lint(schema, ["fk-without-index", "table-comment", "column-comment"]) == []


def test_cli_lint_exit_status_and_disable(capsys):
    assert main(["schema", "lint", SHOP]) == 1
    out = capsys.readouterr().out
    assert "table shipment: foreign key (order_id, line_no) -> order_line has no index" in out
    assert (
        main(
            [
                "schema",
                "lint",
                SHOP,
                "--disable",
                "fk-without-index,table-comment",
                "--disable",
                "column-comment",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == ""
    assert main(["schema", "lint", SHOP, "--disable", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown lint rule nope; write one of" in err
