"""One table: enough to name a wrong attribute or a wrong table."""

import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("cells", metadata, sa.Column("id", sa.Integer, primary_key=True))
