"""The delivery outbox and digest windows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("delivery_id", sa.Text, nullable=False),
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("paper_ids", sa.JSON, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _TIMESTAMP, nullable=False),
        sa.Column("lease_until", _TIMESTAMP),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("sent_at", _TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("delivery_id", name="uq_deliveries_delivery_id"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_deliveries_subscription_id_subscriptions",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'dead')", name="ck_deliveries_status"
        ),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "digest_windows",
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("delivered_until", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", name="pk_digest_windows"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_digest_windows_subscription_id_subscriptions",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("digest_windows")
    op.drop_table("deliveries")
