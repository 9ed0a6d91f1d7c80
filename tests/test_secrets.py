"""Credentials never in any output: every password form of a database URL or an inventory,
on standard error, in --json, in JUnit, in Sphinx's warnings and in the HTML."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
import sqlalchemy as sa

from sphinxext.labbook.cli import main
from sphinxext.labbook.masking import expand, mask, mask_host, mask_url
from sphinxext.labbook.providers.ssh.inventory import InventoryError, load_inventory
from sphinxext.labbook.schema.urlform import split_schema

#: Every character that means something in a URL.
HOSTILE = "Pw d@x#y/z?q%25&k=v:S3cr3t"
#: Nothing listens on port 1 of loopback: the refusal is immediate.
CLOSED = "127.0.0.1:1"


def forms(secret: str) -> set[str]:
    """The ways a secret could show up: as it is, URL-quoted, form-quoted, and its parts
    around the characters a URL splits at (what a cut URL would print)."""
    parts = {p for p in secret.replace("@", " ").replace("#", " ").split() if len(p) > 3}
    return {secret, quote(secret, safe=""), quote_plus(secret), *parts}


def assert_nowhere(secret: str, *outputs: str) -> None:
    for out in outputs:
        for form in forms(secret):
            assert form not in out, (form, out)


# -- the masking function ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://nova:s3cr@t@db/nova", "s3cr@t"),
        ("postgresql:///db?user=u&password=S3cr3t&host=127.0.0.1", "S3cr3t"),
        ("postgresql:///db?host=h&PASSWORD=S3cr3t", "S3cr3t"),
        ("postgresql://u@h/db?sslmode=require&sslpassword=K3yPass", "K3yPass"),
        ("mysql+pymysql://u:p%40ss%23w0rd@h/db", "p@ss#w0rd"),
        ("https://api.example/x?token=T0ken123&page=2", "T0ken123"),
    ],
)
def test_mask_url_hides_each_form(url, secret):
    masked = mask_url(url)
    assert "*****" in masked
    assert_nowhere(secret, masked)
    assert_nowhere(secret, mask(f"could not connect to {url}: auth failed for {secret}", [secret]))


def test_mask_host_hides_an_inventory_password():
    assert mask_host("root:pw-S3cr3t@10.0.0.1") == "root:*****@10.0.0.1"
    assert mask_host("root@10.0.0.1") == "root@10.0.0.1"
    assert mask_host("fe80::1") == "fe80::1"


def test_substituted_values_are_quoted_where_they_land(monkeypatch):
    monkeypatch.setenv("LB_PW", HOSTILE)
    monkeypatch.setenv("LB_HOST", "db.example:5432")
    monkeypatch.setenv("LB_URL", "postgresql://u:raw@h/db")
    url = expand("postgresql://u:${LB_PW}@${LB_HOST}/db")
    assert sa.engine.make_url(url).password == HOSTILE
    assert sa.engine.make_url(url).host == "db.example"
    query = expand("postgresql:///db?user=u&password=${LB_PW}&host=h")
    assert parse_qs(urlsplit(query).query)["password"] == [HOSTILE]
    assert expand("${LB_URL}") == "postgresql://u:raw@h/db"  # a whole URL stays as it is


@pytest.mark.parametrize(
    ("source", "url", "name"),
    [
        ("postgresql://u:p@h/db#nova", "postgresql://u:p@h/db", "nova"),
        ("postgresql://u:pa#ss@h/db", "postgresql://u:pa#ss@h/db", None),
        ("postgresql://u:pa#ss@h/db#nova", "postgresql://u:pa#ss@h/db", "nova"),
        ("postgresql://u:p@h/db#", "postgresql://u:p@h/db", None),
    ],
)
def test_only_a_schema_name_after_the_last_hash_is_a_fragment(source, url, name):
    assert split_schema(source) == (url, name)


# -- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "env"),
    [
        (f"postgresql://u:{HOSTILE.replace('%', '%25')}@{CLOSED}/db", {}),
        ("postgresql:///db?user=u&password=S3cr3tQ&host=127.0.0.1&port=1", {}),
        (f"postgresql://u:${{LB_PW}}@{CLOSED}/db", {"LB_PW": HOSTILE}),
        ("postgresql:///db?user=u&password=${LB_PW}&host=127.0.0.1&port=1", {"LB_PW": HOSTILE}),
        (f"postgresql://u:pa#S3cr3tH@{CLOSED}/db", {}),
        (f"postgresql://u:with sp@ce S3cr3t@{CLOSED}/db", {}),
        (f"postgresql://u:S3cr3tP@{CLOSED.replace(':1', ':notaport')}/db", {}),
    ],
)
def test_schema_command_never_prints_the_password(url, env, monkeypatch, capsys):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    secret = env.get("LB_PW") or (
        parse_qs(urlsplit(url).query).get("password", [None])[0]
        or url.split("//u:", 1)[1].rsplit("@", 1)[0]
    )
    rc = main(["schema", url])
    out, err = capsys.readouterr()
    assert rc in (2, 3), err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "*****" in err, err
    assert_nowhere(secret, out, err)


# -- real servers: a hostile password works, and a wrong one is not echoed -------------------
ALTER = {
    "postgresql": "ALTER ROLE {user} PASSWORD '{pw}'",
    "mysql": "SET PASSWORD = PASSWORD('{pw}')",
}


@pytest.fixture(params=["postgresql", "mariadb"])
def hostile_server(request, monkeypatch):
    """The test server's URL with ${LB_PW} for the password, which is set to HOSTILE while
    the test runs (and back afterwards)."""
    server = request.getfixturevalue(f"{request.param}_server")
    url = sa.engine.make_url(server)
    original = url.password

    def set_password(connect_with: str, new: str) -> None:
        engine = sa.create_engine(
            url.set(password=connect_with), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        with engine.connect() as conn:
            sql = ALTER[engine.dialect.name].format(user=url.username, pw=new)
            conn.exec_driver_sql(sql.replace("%", "%%"))
        engine.dispose()

    set_password(original, HOSTILE)
    monkeypatch.setenv("LB_PW", HOSTILE)
    try:
        yield url.render_as_string(hide_password=False).replace(f":{original}@", ":${LB_PW}@")
    finally:
        set_password(HOSTILE, original)


def test_a_hostile_password_reaches_the_server_and_a_wrong_one_is_not_echoed(
    hostile_server, monkeypatch, capsys
):
    assert main(["schema", "-f", "mermaid", hostile_server]) == 0, capsys.readouterr().err
    capsys.readouterr()
    monkeypatch.setenv("LB_PW", HOSTILE + "-wrong")
    assert main(["schema", hostile_server]) == 3
    out, err = capsys.readouterr()
    assert "*****" in err and "Traceback" not in err
    assert_nowhere(HOSTILE, out, err)


def test_the_query_string_form_reaches_the_server(request, monkeypatch, capsys):
    server = sa.engine.make_url(request.getfixturevalue("postgresql_server"))
    monkeypatch.setenv("LB_PW", server.password)
    url = (
        f"postgresql+psycopg2:///{server.database}?user={server.username}"
        f"&password=${{LB_PW}}&host={server.host}&port={server.port}"
    )
    assert main(["schema", "-f", "mermaid", url]) == 0, capsys.readouterr().err


# -- labbook check and Sphinx: warnings, --json, JUnit, HTML -------------------------------
SNAPSHOT = """\
format: labbook-schema/1
tables:
  cells:
    columns:
    - {name: id, nullable: false, type: INTEGER}
    primary_key: [id]
"""


def schema_docs(tmp_path: Path, check_against: str) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text('extensions = ["sphinxext.labbook"]\n')
    (docs / "snapshot.yaml").write_text(SNAPSHOT)
    (docs / "index.rst").write_text(
        f"Schema\n======\n\n.. schema-diagram:: snapshot.yaml\n   :check-against: {check_against}\n"
    )
    return docs


def run_check(tmp_path: Path, docs: Path, capsys) -> tuple[int, str, str, str, str]:
    rc = main(
        ["check", str(docs), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml")]
    )
    out, err = capsys.readouterr()
    return rc, out, err, (tmp_path / "r.json").read_text(), (tmp_path / "r.xml").read_text()


@pytest.mark.parametrize(
    ("check_against", "secret"),
    [
        ("postgresql:///db?user=u&password=S3cr3tQ&host=127.0.0.1&port=1", "S3cr3tQ"),
        (f"postgresql://u:${{LB_PW}}@{CLOSED}/db", HOSTILE),
        ("postgresql:///db?user=u&password=${LB_PW}&host=127.0.0.1&port=1", HOSTILE),
    ],
)
def test_an_unreachable_check_is_exit_3_and_masked_everywhere(
    tmp_path, monkeypatch, capsys, check_against, secret
):
    monkeypatch.setenv("LB_PW", HOSTILE)
    docs = schema_docs(tmp_path, check_against)
    rc, out, err, report, junit = run_check(tmp_path, docs, capsys)
    assert rc == 3, err
    assert "could not reach its database" in out
    assert "cannot connect to" in err and "*****" in err
    problems = json.loads(report)["problems"]
    assert [p["kind"] for p in problems] == ["unreachable"]
    assert problems[0]["line"] == 4 and problems[0]["file"].endswith("index.rst")
    assert 'type="unreachable"' in junit
    assert_nowhere(secret, out, err, report, junit)


def test_schema_drift_fails_labbook_check(tmp_path, capsys):
    db = tmp_path / "live.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE cells (id INTEGER NOT NULL PRIMARY KEY, extra TEXT)")
    docs = schema_docs(tmp_path, f"sqlite:///{db}")
    rc, out, err, report, _ = run_check(tmp_path, docs, capsys)
    assert rc == 1, err
    assert "schema drift against" in err and "extra" in err
    assert "1 schema check with drift" in out
    assert {p["kind"] for p in json.loads(report)["problems"]} == {"schema-drift"}
    # the same database without the extra column: no drift, exit 0
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE cells DROP COLUMN extra")
    rc, out, err, report, _ = run_check(tmp_path, docs, capsys)
    assert rc == 0, err
    assert json.loads(report)["problems"] == []


def test_sphinx_warnings_and_html_hold_no_password(tmp_path, monkeypatch, make_app):
    monkeypatch.setenv("LB_PW", HOSTILE)
    docs = schema_docs(tmp_path, f"postgresql://u:${{LB_PW}}@{CLOSED}/db?password=S3cr3tQ")
    app = make_app("html", srcdir=docs)
    app.build()
    warnings = app.warning.getvalue()
    assert "cannot connect to" in warnings
    html = (Path(app.outdir) / "index.html").read_text()
    assert_nowhere(HOSTILE, warnings, html)
    assert_nowhere("S3cr3tQ", warnings, html)


# -- ssh inventories ---------------------------------------------------------------------
def test_an_inventory_host_with_a_password_is_refused_and_masked(tmp_path):
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "nodes:\n  alpha: {host: 'root:pw-S3cr3t@10.0.0.1'}\n"
        "  beta: {host: 10.0.0.2, jump: 'admin:J4mpS3cret@bastion'}\n"
    )
    with pytest.raises(InventoryError) as info:
        load_inventory(str(inventory), str(tmp_path))
    text = str(info.value)
    assert f"{inventory}:2: node 'alpha': 'host: root:*****@10.0.0.1' holds a password" in text
    assert f"{inventory}:3: node 'beta': 'jump: admin:*****@bastion'" in text
    assert "identity_file" in text
    assert_nowhere("pw-S3cr3t", text)
    assert_nowhere("J4mpS3cret", text)
