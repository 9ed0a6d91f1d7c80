import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Cell(Base):
    """A cell of compute hosts."""

    __tablename__ = "cells"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                    primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True, comment="Shown to operators.")
    deleted_at: Mapped[sa.DateTime | None] = mapped_column(sa.DateTime)
    state: Mapped[str] = mapped_column(sa.String(8), server_default="up")


class Host(Base):
    __tablename__ = "hosts"
    __table_args__ = {"comment": "Hypervisors, one row each."}
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    cell_id: Mapped[int] = mapped_column(sa.ForeignKey("cells.id", ondelete="CASCADE"))
    deleted_at: Mapped[sa.DateTime | None] = mapped_column(sa.DateTime)


audit = sa.Table("audit", Base.metadata, sa.Column("message", sa.Text))
