"""E-mail recipients: each address of each subscription, its unsubscribe token and pause.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_recipients",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("paused_at", _TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name="pk_email_recipients"),
        sa.UniqueConstraint(
            "subscription_id", "address", name="uq_email_recipients_subscription_id_address"
        ),
        sa.UniqueConstraint("token", name="uq_email_recipients_token"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_email_recipients_subscription_id_subscriptions",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("email_recipients")
