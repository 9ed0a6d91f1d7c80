"""Three tables: hosts refer to cells; flavors stand apart."""

import sqlalchemy as sa

metadata = sa.MetaData()

sa.Table("cells", metadata, sa.Column("id", sa.Integer, primary_key=True))
sa.Table(
    "hosts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id"), nullable=False),
)
sa.Table("flavors", metadata, sa.Column("id", sa.Integer, primary_key=True))
