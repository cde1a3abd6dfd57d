"""Subscriptions and their matches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)
_STRINGS = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("schedule", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("removed_at", _TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("name", name="uq_subscriptions_name"),
    )
    op.create_table(
        "matches",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("paper_id", sa.Integer, nullable=False),
        sa.Column("matched_at", _TIMESTAMP, nullable=False),
        sa.Column("terms", _STRINGS, nullable=False),
        sa.Column("backfill", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_matches"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_matches_subscription_id_subscriptions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_matches_paper_id_papers", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "subscription_id", "paper_id", name="uq_matches_subscription_id_paper_id"
        ),
    )
    op.create_index("ix_matches_newest", "matches", ["subscription_id", "matched_at", "id"])
    op.create_index("ix_matches_paper_id", "matches", ["paper_id"])


def downgrade() -> None:
    op.drop_table("matches")
    op.drop_table("subscriptions")
