"""The Nova API database: cells, host and instance mappings, flavors, requests, groups.

Written from the public Nova API schema (nova/db/api/models.py) as the handbook documents
it; ``labbook schema-diff schemas/nova_api.py:Base mysql+pymysql://...`` checks it against
a real deployment.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def _timestamps() -> list[sa.Column[object]]:
    return [sa.Column("created_at", sa.DateTime), sa.Column("updated_at", sa.DateTime)]


def _table(name: str, *items: object) -> sa.Table:
    return sa.Table(name, Base.metadata, sa.Column("id", sa.Integer, primary_key=True),
                    *_timestamps(), *items)


cell_mappings = _table(
    "cell_mappings",
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.String(255)),
    sa.Column("transport_url", sa.Text, nullable=False),
    sa.Column("database_connection", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, default=False),
    sa.UniqueConstraint("uuid", name="uniq_cell_mappings0uuid"),
    sa.Index("uuid_idx", "uuid"),
)

host_mappings = _table(
    "host_mappings",
    sa.Column("cell_id", sa.Integer, sa.ForeignKey("cell_mappings.id"), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.UniqueConstraint("host", name="uniq_host_mappings0host"),
    sa.Index("host_idx", "host"),
)

instance_mappings = _table(
    "instance_mappings",
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    sa.Column("cell_id", sa.Integer, sa.ForeignKey("cell_mappings.id")),
    sa.Column("project_id", sa.String(255), nullable=False),
    sa.Column("user_id", sa.String(255)),
    sa.Column("queued_for_delete", sa.Boolean, default=False),
    sa.UniqueConstraint("instance_uuid", name="uniq_instance_mappings0instance_uuid"),
    sa.Index("instance_uuid_idx", "instance_uuid"),
    sa.Index("project_id_idx", "project_id"),
    sa.Index("instance_mappings_user_id_project_id_idx", "user_id", "project_id"),
)

flavors = _table(
    "flavors",
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("root_gb", sa.Integer),
    sa.Column("ephemeral_gb", sa.Integer),
    sa.Column("flavorid", sa.String(255), nullable=False),
    sa.Column("swap", sa.Integer, nullable=False, default=0),
    sa.Column("rxtx_factor", sa.Float, default=1),
    sa.Column("vcpu_weight", sa.Integer),
    sa.Column("disabled", sa.Boolean, default=False),
    sa.Column("is_public", sa.Boolean, default=True),
    sa.Column("description", sa.Text),
    sa.UniqueConstraint("flavorid", name="uniq_flavors0flavorid"),
    sa.UniqueConstraint("name", name="uniq_flavors0name"),
)

flavor_extra_specs = _table(
    "flavor_extra_specs",
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.String(255)),
    sa.Column("flavor_id", sa.Integer, sa.ForeignKey("flavors.id"), nullable=False),
    sa.UniqueConstraint("flavor_id", "key", name="uniq_flavor_extra_specs0flavor_id0key"),
    sa.Index("flavor_extra_specs_flavor_id_key_idx", "flavor_id", "key"),
)

flavor_projects = _table(
    "flavor_projects",
    sa.Column("flavor_id", sa.Integer, sa.ForeignKey("flavors.id"), nullable=False),
    sa.Column("project_id", sa.String(255), nullable=False),
    sa.UniqueConstraint("flavor_id", "project_id",
                        name="uniq_flavor_projects0flavor_id0project_id"),
)

request_specs = _table(
    "request_specs",
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.UniqueConstraint("instance_uuid", name="uniq_request_specs0instance_uuid"),
    sa.Index("request_spec_instance_uuid_idx", "instance_uuid"),
)

build_requests = _table(
    "build_requests",
    sa.Column("project_id", sa.String(255), nullable=False),
    sa.Column("instance_uuid", sa.String(36)),
    sa.Column("instance", sa.Text),
    sa.Column("block_device_mappings", sa.Text),
    sa.Column("tags", sa.Text),
    sa.UniqueConstraint("instance_uuid", name="uniq_build_requests0instance_uuid"),
    sa.Index("build_requests_project_id_idx", "project_id"),
    sa.Index("build_requests_instance_uuid_idx", "instance_uuid"),
)

key_pairs = _table(
    "key_pairs",
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("fingerprint", sa.String(255)),
    sa.Column("public_key", sa.Text),
    sa.Column("type", sa.Enum("ssh", "x509", name="keypair_types"), nullable=False,
              server_default="ssh"),
    sa.UniqueConstraint("user_id", "name", name="uniq_key_pairs0user_id0name"),
)

aggregates = _table(
    "aggregates",
    sa.Column("uuid", sa.String(36)),
    sa.Column("name", sa.String(255)),
    sa.UniqueConstraint("name", name="uniq_aggregate0name"),
    sa.Index("aggregate_uuid_idx", "uuid"),
)

aggregate_hosts = _table(
    "aggregate_hosts",
    sa.Column("host", sa.String(255)),
    sa.Column("aggregate_id", sa.Integer, sa.ForeignKey("aggregates.id"), nullable=False),
    sa.UniqueConstraint("host", "aggregate_id",
                        name="uniq_aggregate_hosts0host0aggregate_id"),
)

aggregate_metadata = _table(
    "aggregate_metadata",
    sa.Column("aggregate_id", sa.Integer, sa.ForeignKey("aggregates.id"), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    sa.UniqueConstraint("aggregate_id", "key",
                        name="uniq_aggregate_metadata0aggregate_id0key"),
    sa.Index("aggregate_metadata_key_idx", "key"),
)

instance_groups = _table(
    "instance_groups",
    sa.Column("user_id", sa.String(255)),
    sa.Column("project_id", sa.String(255)),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.String(255)),
    sa.UniqueConstraint("uuid", name="uniq_instance_groups0uuid"),
)

instance_group_policy = _table(
    "instance_group_policy",
    sa.Column("policy", sa.String(255)),
    sa.Column("rules", sa.Text),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("instance_groups.id"), nullable=False),
    sa.Index("instance_group_policy_policy_idx", "policy"),
)

instance_group_member = _table(
    "instance_group_member",
    sa.Column("instance_uuid", sa.String(255)),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("instance_groups.id"), nullable=False),
    sa.Index("instance_group_member_instance_idx", "instance_uuid"),
)

quotas = _table(
    "quotas",
    sa.Column("project_id", sa.String(255)),
    sa.Column("resource", sa.String(255), nullable=False),
    sa.Column("hard_limit", sa.Integer),
    sa.UniqueConstraint("project_id", "resource", name="uniq_quotas0project_id0resource"),
)

project_user_quotas = _table(
    "project_user_quotas",
    sa.Column("project_id", sa.String(255), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("resource", sa.String(255), nullable=False),
    sa.Column("hard_limit", sa.Integer),
    sa.UniqueConstraint("user_id", "project_id", "resource",
                        name="uniq_project_user_quotas0user_id0project_id0resource"),
    sa.Index("project_user_quotas_project_id_idx", "project_id"),
    sa.Index("project_user_quotas_user_id_idx", "user_id"),
)
