"""A small schema for the tests: a composite foreign key and a self-reference."""

import sqlalchemy as sa

metadata = sa.MetaData()

sa.Table(
    "cells", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.UniqueConstraint("id", "region", name="uq_cells_id_region"),
)
sa.Table(
    "hosts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("cell_id", sa.Integer, nullable=False),
    sa.Column("cell_region", sa.String(64), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("hosts.id")),
    sa.ForeignKeyConstraint(["cell_id", "cell_region"], ["cells.id", "cells.region"],
                            name="fk_hosts_cell"),
    sa.Index("ix_hosts_host", "host"),
)
