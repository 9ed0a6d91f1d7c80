"""Schema loaders: SQLAlchemy models, DDL in three dialects, snapshots, source strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import ROOTS

from sphinxext.labbook.errors import SchemaError
from sphinxext.labbook.schema.ddl import load_ddl
from sphinxext.labbook.schema.mask import expand, mask_text, mask_url
from sphinxext.labbook.schema.model import Column, ForeignKey, Schema, Table
from sphinxext.labbook.schema.snapshot import dumps, load_snapshot, write_snapshot
from sphinxext.labbook.schema.source import load_schema, parse_source
from sphinxext.labbook.schema.sqla import from_metadata, parse_type, to_metadata, type_text

REPO = Path(__file__).parent.parent
SMALL = ROOTS / "test-schema"


# -- models ------------------------------------------------------------------------------


def test_file_models_give_sorted_tables_keys_and_composite_foreign_key():
    schema = load_schema("models.py:metadata", str(SMALL))
    assert schema.names == ("cells", "hosts")
    hosts = schema.table("hosts")
    assert hosts.primary_key == ("id",)
    assert hosts.column("host") == Column("host", "VARCHAR(255)", False)
    assert hosts.column("parent_id").nullable
    assert hosts.foreign_keys == (
        ForeignKey(("cell_id", "cell_region"), "cells", ("id", "region"), "fk_hosts_cell"),
        ForeignKey(("parent_id",), "hosts", ("id",)),
    )
    assert [i.name for i in hosts.indexes] == ["ix_hosts_host"]
    assert schema.files == (str(SMALL / "models.py"),)


def test_a_file_without_attribute_finds_its_one_metadata():
    assert load_schema("models.py", str(SMALL)) == load_schema("models.py:metadata", str(SMALL))


def test_dotted_module_source_imports_the_package_module(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))  # as a user's PYTHONPATH would
    schema = load_schema("schemas.nova_api:Base", str(REPO))
    assert len(schema) == 17
    assert schema == load_schema("schemas/nova_api.py:Base", str(REPO))


def test_missing_attribute_says_what_to_write(tmp_path):
    with pytest.raises(
        SchemaError,
        match=r"models.py has no attribute 'Nope'; write "
        r"models.py:Base",
    ):
        load_schema("models.py:Nope", str(SMALL))


def test_attribute_that_is_not_metadata_is_refused():
    with pytest.raises(SchemaError, match=r"models.py:sa is a module, not a SQLAlchemy"):
        load_schema("models.py:sa", str(SMALL))


def test_unimportable_file_names_the_failing_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\nraise RuntimeError('boom')\n"
    )
    with pytest.raises(SchemaError) as info:
        load_schema("bad.py:metadata", str(tmp_path))
    assert info.value.file == str(bad) and info.value.line == 4
    assert "RuntimeError: boom" in str(info.value)


def test_syntax_error_in_models_names_its_line(tmp_path):
    (tmp_path / "broken.py").write_text("x = 1\ndef (:\n")
    with pytest.raises(SchemaError) as info:
        load_schema("broken.py:Base", str(tmp_path))
    assert info.value.line == 2


def test_unknown_module_suggests_sys_path():
    with pytest.raises(SchemaError, match="no module named 'no_such_pkg'; put its directory"):
        load_schema("no_such_pkg.models:Base")


def test_importing_a_file_leaves_no_module_behind(tmp_path):
    import sys

    before = set(sys.modules)
    load_schema("models.py:metadata", str(SMALL))
    assert {m for m in set(sys.modules) - before if m.startswith("labbook_schema_")} == set()


def test_several_metadata_are_ambiguous(tmp_path):
    (tmp_path / "two.py").write_text(
        "import sqlalchemy as sa\na = sa.MetaData()\nb = sa.MetaData()\n"
    )
    with pytest.raises(SchemaError, match=r"several MetaData \(a, b\); write two.py:NAME"):
        load_schema("two.py", str(tmp_path))


# -- types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("INT", "INTEGER"),
        ("SERIAL", "INTEGER"),
        ("INT(11)", "INTEGER"),
        ("TINYINT(1)", "TINYINT(1)"),
        ("character varying(36)", "VARCHAR(36)"),
        ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"),
        ("TIMESTAMP WITHOUT TIME ZONE", "TIMESTAMP"),
        ("DOUBLE PRECISION", "DOUBLE PRECISION"),
        ("NUMERIC(10, 2)", "NUMERIC(10, 2)"),
        ("ENUM('a', 'b')", "ENUM('a', 'b')"),
        ("JSONB", "JSONB"),
        ("BOOL", "BOOLEAN"),
        ("geometry(Point)", "geometry(Point)"),
    ],
)
def test_type_text_is_normalized_and_stable(text, normal):
    assert type_text(parse_type(text)) == normal
    assert type_text(parse_type(normal)) == normal


def test_model_types_survive_a_round_trip_through_metadata():
    schema = load_schema("schemas/keystone.py:Base", str(REPO))
    assert from_metadata(to_metadata(schema)) == schema


# -- DDL ----------------------------------------------------------------------------------

POSTGRES_DDL = """\
-- cells and hosts, as pg_dump would write them
CREATE TABLE cells (
  id SERIAL PRIMARY KEY,
  uuid character varying(36) NOT NULL UNIQUE,
  created timestamp with time zone,
  region varchar(64) NOT NULL,
  CONSTRAINT uq_cells_id_region UNIQUE (id, region)
);
CREATE TABLE hosts (
  id integer NOT NULL,
  cell_id integer NOT NULL,
  cell_region varchar(64) NOT NULL,
  parent_id integer REFERENCES hosts,
  PRIMARY KEY (id)
);
ALTER TABLE ONLY hosts ADD CONSTRAINT fk_hosts_cell FOREIGN KEY (cell_id, cell_region)
  REFERENCES cells (id, region) ON DELETE CASCADE;
CREATE INDEX ix_hosts_cell ON hosts (cell_id);
CREATE VIEW big_cells AS SELECT * FROM cells;
INSERT INTO cells (uuid, region) VALUES ('x', 'r');
"""


def test_postgres_ddl_gives_tables_keys_and_notes_what_it_skipped(tmp_path):
    path = tmp_path / "nova.sql"
    path.write_text(POSTGRES_DDL)
    schema = load_schema("nova.sql:postgres", str(tmp_path))
    cells, hosts = schema.table("cells"), schema.table("hosts")
    assert [(c.name, c.type, c.nullable) for c in cells.columns] == [
        ("id", "INTEGER", False),
        ("uuid", "VARCHAR(36)", False),
        ("created", "TIMESTAMP WITH TIME ZONE", True),
        ("region", "VARCHAR(64)", False),
    ]
    assert cells.line == 2 and hosts.line == 9
    assert (
        ForeignKey(
            ("cell_id", "cell_region"),
            "cells",
            ("id", "region"),
            "fk_hosts_cell",
            ondelete="CASCADE",
        )
        in hosts.foreign_keys
    )
    assert ForeignKey(("parent_id",), "hosts", ("id",)) in hosts.foreign_keys
    assert [i.name for i in hosts.indexes] == ["ix_hosts_cell"]
    # the view is reported with its line; the INSERT is data, skipped without a note
    assert [(n.line, n.message) for n in schema.notes] == [
        (
            19,
            "statement not understood, left out of the schema: CREATE VIEW big_cells AS "
            "SELECT * FROM cells",
        )
    ]


MYSQL_DUMP = """\
DROP TABLE IF EXISTS `hosts`;
/*!40101 SET @saved_cs_client = @@character_set_client */;
CREATE TABLE `hosts` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `host` varchar(255) COLLATE utf8mb4_bin NOT NULL,
  `enabled` tinyint(1) DEFAULT NULL,
  `cell_id` int(11) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uniq_host` (`host`),
  KEY `ix_cell` (`cell_id`),
  CONSTRAINT `fk_cell` FOREIGN KEY (`cell_id`) REFERENCES `cells` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES `hosts` WRITE;
INSERT INTO `hosts` VALUES (1,'a',1,1);
UNLOCK TABLES;
"""


def test_mysqldump_is_read_with_its_session_statements_skipped(tmp_path):
    (tmp_path / "dump.sql").write_text(MYSQL_DUMP)
    schema = load_schema("dump.sql:mysql", str(tmp_path))
    hosts = schema.table("hosts")
    assert [(c.name, c.type) for c in hosts.columns] == [
        ("id", "INTEGER"),
        ("host", "VARCHAR(255)"),
        ("enabled", "TINYINT(1)"),
        ("cell_id", "INTEGER"),
    ]
    assert [u.name for u in hosts.unique_constraints] == ["uniq_host"]
    assert [i.name for i in hosts.indexes] == ["ix_cell"]
    assert hosts.foreign_keys[0].ref_table == "cells"
    assert schema.notes == ()


def test_sqlite_ddl_runs_in_sqlite_and_reports_views(tmp_path):
    (tmp_path / "s.sql").write_text(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL);\n"
        "CREATE TABLE b (id INTEGER PRIMARY KEY,\n  a_id INTEGER REFERENCES a(id));\n"
        "CREATE INDEX ix_b ON b (a_id);\nCREATE VIEW v AS SELECT * FROM a;\n"
    )
    schema = load_schema("s.sql:sqlite", str(tmp_path))
    assert schema.names == ("a", "b")
    assert schema.table("b").foreign_keys[0].ref_columns == ("id",)
    assert [n.message for n in schema.notes] == ["view v is not part of the schema model"]


def test_sqlite_error_names_the_statement_line(tmp_path):
    (tmp_path / "bad.sql").write_text(
        "CREATE TABLE a (id INTEGER);\n\nCREATE TABLE c (\n"
        "  id INTEGER,\n  oops NOT A TYPE ((\n);\n"
    )
    with pytest.raises(SchemaError) as info:
        load_schema("bad.sql:sqlite", str(tmp_path))
    assert info.value.line == 3 and "SQLite cannot run this statement" in str(info.value)


def test_unparseable_ddl_names_file_and_line(tmp_path):
    (tmp_path / "bad.sql").write_text(
        "CREATE TABLE ok (id int);\n\nCREATE TABLE broken (\n  id int\n"
    )
    with pytest.raises(SchemaError) as info:
        load_schema("bad.sql:postgres", str(tmp_path))
    assert info.value.file == str(tmp_path / "bad.sql")
    assert info.value.line in (3, 4, 5)
    assert "cannot parse this SQL" in info.value.message


def test_unknown_dialect_lists_the_known_ones(tmp_path):
    (tmp_path / "x.sql").write_text("")
    with pytest.raises(SchemaError, match=r"unknown SQL dialect 'oracle'.*write one of"):
        load_schema("x.sql:oracle", str(tmp_path))


def test_ddl_and_models_of_the_same_schema_agree(tmp_path):
    (tmp_path / "pg.sql").write_text(POSTGRES_DDL)
    ddl = load_ddl(str(tmp_path / "pg.sql"), "postgres")
    assert ddl.table("hosts").primary_key == ("id",)
    assert ddl.table("cells").unique_constraints[-1].columns == ("id", "region")


# -- snapshots --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_snapshot_round_trip_is_equal_and_byte_stable(tmp_path, suffix):
    schema = load_schema("schemas/keystone.py:Base", str(REPO))
    path = tmp_path / f"k{suffix}"
    write_snapshot(schema, str(path))
    again = load_snapshot(str(path))
    assert again == schema
    assert dumps(again, suffix[1:]).encode() != b""
    write_snapshot(again, str(tmp_path / f"again{suffix}"))
    # the source line differs (it names where each came from); everything else is equal
    strip = [ln for ln in path.read_text().splitlines() if "source" not in ln]
    assert strip == [
        ln for ln in (tmp_path / f"again{suffix}").read_text().splitlines() if "source" not in ln
    ]


def test_committed_snapshots_match_their_models():
    for models, snap in (
        ("schemas/nova_api.py:Base", "schemas/nova_api.snapshot.yaml"),
        ("schemas/keystone.py:Base", "schemas/keystone.snapshot.json"),
    ):
        assert load_schema(snap, str(REPO)) == load_schema(models, str(REPO)), snap


def test_snapshot_json_keys_are_sorted(tmp_path):
    schema = load_schema("models.py:metadata", str(SMALL))
    data = json.loads(dumps(schema, "json"))
    assert list(data["tables"]) == sorted(data["tables"])
    assert dumps(schema, "json") == json.dumps(data, indent=2, sort_keys=True) + "\n"


def test_bad_snapshot_names_file_and_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("format: labbook-schema/1\ntables:\n  t:\n    columns:\n    - {name: id}\n")
    with pytest.raises(SchemaError) as info:
        load_snapshot(str(path))
    assert info.value.line == 5 and "missing 'type'" in info.value.message


def test_a_file_that_is_not_a_snapshot_says_how_to_make_one(tmp_path):
    (tmp_path / "x.json").write_text('{"tables": {}}')
    with pytest.raises(SchemaError, match="labbook schema snapshot SOURCE -o FILE"):
        load_snapshot(str(tmp_path / "x.json"))


# -- source strings and credentials -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "target", "detail"),
    [
        ("pkg.models:Base", "module", "pkg.models", "Base"),
        ("schemas/nova_api.py:Base", "file", "schemas/nova_api.py", "Base"),
        ("schemas/nova_api.py", "file", "schemas/nova_api.py", None),
        ("schemas/nova.sql", "ddl", "schemas/nova.sql", None),
        ("schemas/nova.sql:mysql", "ddl", "schemas/nova.sql", "mysql"),
        ("schemas/nova.yaml", "snapshot", "schemas/nova.yaml", None),
        ("postgresql://u:p@h/db#nova", "url", "postgresql://u:p@h/db", "nova"),
    ],
)
def test_source_strings_name_their_loader(text, kind, target, detail):
    src = parse_source(text)
    assert (src.kind, src.target, src.detail) == (kind, target, detail)


def test_a_bad_source_string_lists_the_forms():
    with pytest.raises(SchemaError, match="is not a schema source; write one of"):
        parse_source("what is this?")


def test_passwords_are_masked_and_variables_expanded(monkeypatch):
    assert mask_url("postgresql://nova:s3cr@t@db/nova") == "postgresql://nova:*****@db/nova"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"
    assert mask_text("auth failed for s3cr@t", "mysql://u:s3cr@t@h/d") == "auth failed for *****"
    monkeypatch.setenv("LABBOOK_TEST_PW", "hunter2")
    assert expand("mysql://u:${LABBOOK_TEST_PW}@h/d") == "mysql://u:hunter2@h/d"
    monkeypatch.delenv("LABBOOK_TEST_PW")
    with pytest.raises(SchemaError, match=r"\$\{LABBOOK_TEST_PW\}, which is not set"):
        expand("mysql://u:${LABBOOK_TEST_PW}@h/d")


def test_schema_model_sorts_what_loaders_give_in_any_order():
    fks = (ForeignKey(("b",), "t", ("id",)), ForeignKey(("a",), "t", ("id",)))
    one = Schema((Table("z", (), foreign_keys=fks), Table("a", ())))
    two = Schema((Table("a", ()), Table("z", (), foreign_keys=fks[::-1])))
    assert one == two and one.names == ("a", "z")


def test_reflection_of_sqlite_matches_the_models(tmp_path):
    from sphinxext.labbook.schema.orm import import_file

    metadata = import_file(str(SMALL / "models.py")).metadata
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(engine)
    engine.dispose()
    live = load_schema("sqlite:///db.sqlite", str(tmp_path))
    assert live == load_schema("models.py:metadata", str(SMALL))
    assert live.source == "sqlite:///db.sqlite"
