"""A Keystone-like identity schema: projects, users, roles, assignments, the catalog.

Written from the public Keystone SQL schema (keystone/common/sql) as the handbook documents
it; note the composite foreign keys local_user -> user (id, domain_id) and
federated_user -> federation_protocol (id, idp_id).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


md = Base.metadata
ID = sa.String(64)

project = sa.Table(
    "project", md,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", ID, nullable=False),
    sa.Column("extra", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("enabled", sa.Boolean),
    sa.Column("domain_id", ID, sa.ForeignKey("project.id"), nullable=False),
    sa.Column("parent_id", ID, sa.ForeignKey("project.id")),
    sa.Column("is_domain", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("domain_id", "name", name="ixu_project_name_domain_id"),
)

project_tag = sa.Table(
    "project_tag", md,
    sa.Column("project_id", ID, sa.ForeignKey("project.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
)

user = sa.Table(
    "user", md,
    sa.Column("id", ID, primary_key=True),
    sa.Column("extra", sa.Text),
    sa.Column("enabled", sa.Boolean),
    sa.Column("default_project_id", ID),
    sa.Column("created_at", sa.DateTime),
    sa.Column("last_active_at", sa.Date),
    sa.Column("domain_id", ID, nullable=False),
    sa.UniqueConstraint("id", "domain_id", name="ixu_user_id_domain_id"),
    sa.Index("ix_default_project_id", "default_project_id"),
)

local_user = sa.Table(
    "local_user", md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("domain_id", ID, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("failed_auth_count", sa.Integer),
    sa.Column("failed_auth_at", sa.DateTime),
    sa.ForeignKeyConstraint(["user_id", "domain_id"], ["user.id", "user.domain_id"],
                            name="local_user_user_id_fkey", onupdate="CASCADE",
                            ondelete="CASCADE"),
    sa.UniqueConstraint("user_id", name="ixu_local_user_user_id"),
    sa.UniqueConstraint("domain_id", "name", name="ixu_local_user_domain_id_name"),
)

password = sa.Table(
    "password", md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("local_user_id", sa.Integer, sa.ForeignKey("local_user.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime),
    sa.Column("self_service", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at_int", sa.BigInteger, nullable=False),
    sa.Column("expires_at_int", sa.BigInteger),
)

identity_provider = sa.Table(
    "identity_provider", md,
    sa.Column("id", ID, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("domain_id", ID, nullable=False),
)

federation_protocol = sa.Table(
    "federation_protocol", md,
    sa.Column("id", ID, primary_key=True),
    sa.Column("idp_id", ID, sa.ForeignKey("identity_provider.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("mapping_id", ID, nullable=False),
)

federated_user = sa.Table(
    "federated_user", md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
    sa.Column("idp_id", ID, sa.ForeignKey("identity_provider.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("protocol_id", ID, nullable=False),
    sa.Column("unique_id", sa.String(255), nullable=False),
    sa.Column("display_name", sa.String(255)),
    sa.ForeignKeyConstraint(["protocol_id", "idp_id"],
                            ["federation_protocol.id", "federation_protocol.idp_id"],
                            name="federated_user_protocol_id_fkey", ondelete="CASCADE"),
    sa.UniqueConstraint("idp_id", "protocol_id", "unique_id",
                        name="ixu_federated_user_idp_protocol_unique"),
)

role = sa.Table(
    "role", md,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("extra", sa.Text),
    sa.Column("domain_id", ID, nullable=False, server_default="<<null>>"),
    sa.Column("description", sa.String(255)),
    sa.UniqueConstraint("name", "domain_id", name="ixu_role_name_domain_id"),
)

implied_role = sa.Table(
    "implied_role", md,
    sa.Column("prior_role_id", ID, sa.ForeignKey("role.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("implied_role_id", ID, sa.ForeignKey("role.id", ondelete="CASCADE"),
              primary_key=True),
)

assignment = sa.Table(
    "assignment", md,
    sa.Column("type", sa.Enum("UserProject", "GroupProject", "UserDomain", "GroupDomain",
                              name="assignment_type"), primary_key=True),
    sa.Column("actor_id", ID, primary_key=True),
    sa.Column("target_id", ID, primary_key=True),
    sa.Column("role_id", ID, primary_key=True),
    sa.Column("inherited", sa.Boolean, primary_key=True, default=False),
    sa.Index("ix_actor_id", "actor_id"),
)

region = sa.Table(
    "region", md,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("parent_region_id", sa.String(255)),
    sa.Column("extra", sa.Text),
)

service = sa.Table(
    "service", md,
    sa.Column("id", ID, primary_key=True),
    sa.Column("type", sa.String(255)),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("extra", sa.Text),
)

endpoint = sa.Table(
    "endpoint", md,
    sa.Column("id", ID, primary_key=True),
    sa.Column("legacy_endpoint_id", ID),
    sa.Column("interface", sa.String(8), nullable=False),
    sa.Column("service_id", ID, sa.ForeignKey("service.id"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("extra", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("region_id", sa.String(255), sa.ForeignKey("region.id")),
    sa.Index("endpoint_service_id_idx", "service_id"),
    sa.Index("endpoint_region_id_idx", "region_id"),
)
