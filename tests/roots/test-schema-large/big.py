"""160 tables in 4 families, each with a foreign key to the one before it."""

import sqlalchemy as sa

metadata = sa.MetaData()

for i in range(160):
    family = ("compute", "network", "storage", "identity")[i % 4]
    sa.Table(
        f"{family}_t{i:03d}", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at_timestamp", sa.DateTime, nullable=False),
        sa.Column("updated_at_timestamp", sa.DateTime),
        sa.Column("display_name_of_the_resource", sa.String(255), nullable=False),
        sa.Column("description_of_the_resource", sa.Text),
        sa.Column("project_identifier", sa.String(64), nullable=False),
        sa.Column("owner_user_identifier", sa.String(64)),
        sa.Column("parent_id", sa.Integer,
                  sa.ForeignKey(f"{family}_t{i - 4:03d}.id") if i >= 4 else None),
    )
