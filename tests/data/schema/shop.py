"""A shop's schema, written to exercise what real projects do with SQLAlchemy models.

Dialect variants, a TypeDecorator with a per-dialect implementation, native enums, unique
indexes, a one-to-one key, composite and self-referencing keys, soft-delete columns.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Address = sa.String(43).with_variant(postgresql.INET(), "postgresql")


class Money(TypeDecorator[int]):
    """Cents; NUMERIC(12, 2) where the database has it, an integer on SQLite."""

    impl = sa.Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[object]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.Numeric(12, 2))


class Status(enum.Enum):
    open = "open"
    paid = "paid"
    shipped = "shipped"


class Base(DeclarativeBase):
    pass


class SoftDelete:
    """Rows are never deleted, only marked."""

    created_at: Mapped[sa.DateTime] = mapped_column(sa.DateTime, nullable=False)
    deleted_at: Mapped[sa.DateTime | None] = mapped_column(sa.DateTime)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class Customer(SoftDelete, Base):
    """Someone who buys."""

    __tablename__ = "customer"
    __table_args__ = {"comment": "People and companies that place orders."}
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), nullable=False, comment="Login name.")
    notes: Mapped[str | None] = mapped_column(LongText)
    last_address: Mapped[str | None] = mapped_column(Address)
    referrer_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("customer.id"))
    __table_args__ = (  # type: ignore[assignment]
        sa.Index("ux_customer_email", "email", unique=True),
        {"comment": "People and companies that place orders."},
    )


class Profile(Base):
    """One profile per customer."""

    __tablename__ = "profile"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    display_name: Mapped[str] = mapped_column(sa.String(80), nullable=False)


class Warehouse(Base):
    __tablename__ = "warehouse"
    region: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), nullable=False)


class Order(SoftDelete, Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("customer.id"), nullable=False, index=True
    )
    status: Mapped[Status] = mapped_column(sa.Enum(Status, name="order_status"), nullable=False)
    total: Mapped[int] = mapped_column(Money, nullable=False)
    wh_region: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    wh_code: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["wh_region", "wh_code"], ["warehouse.region", "warehouse.code"], name="fk_order_wh"
        ),
        sa.Index("ix_orders_wh", "wh_region", "wh_code"),
    )


class Category(Base):
    __tablename__ = "category"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id", ondelete="SET NULL"))
    slug: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)


class OrderLine(Base):
    __tablename__ = "order_line"
    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("category.id"), nullable=False)
    price: Mapped[int] = mapped_column(Money, nullable=False)


class Shipment(Base):
    __tablename__ = "shipment"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, nullable=False)
    line_no: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["order_id", "line_no"], ["order_line.order_id", "order_line.line_no"]
        ),
    )
