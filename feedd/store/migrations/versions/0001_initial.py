"""Papers, dumps, and which dump each paper was seen in.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Spelled out here rather than imported from feedd.store.types: a migration must keep creating
# what it created on the day it was written. The DDL is the same as UTCDateTime / StringList.
_TIMESTAMP = sa.DateTime(timezone=True)
_STRINGS = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    _create_papers()
    _create_dumps()
    op.create_table(
        "paper_dumps",
        sa.Column("paper_id", sa.Integer, nullable=False),
        sa.Column("dump_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_paper_dumps_paper_id_papers", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dump_id"], ["dumps.id"], name="fk_paper_dumps_dump_id_dumps", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", "dump_id", name="pk_paper_dumps"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_paper_dumps_dump_id", "paper_dumps", ["dump_id"])


def _create_papers() -> None:
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False),
        sa.Column("authors_count", sa.Integer),
        sa.Column("authors", _STRINGS, nullable=False),
        sa.Column("organisation", sa.Text),
        sa.Column("published", sa.Date),
        sa.Column("upvotes", sa.Integer),
        sa.Column("upvotes_as_of", sa.Date),
        sa.Column("arxiv_id", sa.Text),
        sa.Column("code_urls", _STRINGS, nullable=False),
        sa.Column("first_seen", _TIMESTAMP, nullable=False),
        sa.Column("last_seen", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_papers"),
        sa.UniqueConstraint("key", name="uq_papers_key"),
    )
    # Partial: text dumps never carry an arXiv id, and NULLs need no index entries.
    op.create_index(
        "ix_papers_arxiv_id",
        "papers",
        ["arxiv_id"],
        sqlite_where=sa.text("arxiv_id IS NOT NULL"),
        postgresql_where=sa.text("arxiv_id IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL sorts NULL first in DESC; the index must match "published DESC NULLS LAST".
        newest = [
            sa.text("published DESC NULLS LAST"),
            sa.text("last_seen DESC"),
            sa.text("id DESC"),
        ]
        op.create_index("ix_papers_newest", "papers", newest)
    else:
        op.create_index("ix_papers_newest", "papers", ["published", "last_seen", "id"])


def _create_dumps() -> None:
    op.create_table(
        "dumps",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("format", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reference_date", sa.Date),
        sa.Column("page_date", sa.Date),
        sa.Column("papers_total", sa.Integer, nullable=False),
        sa.Column("papers_new", sa.Integer, nullable=False),
        sa.Column("papers_updated", sa.Integer, nullable=False),
        sa.Column("papers_unchanged", sa.Integer, nullable=False),
        sa.Column("warnings", _STRINGS, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("received_at", _TIMESTAMP, nullable=False),
        sa.Column("finished_at", _TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name="pk_dumps"),
        sa.CheckConstraint(
            "status IN ('ingested', 'duplicate', 'rejected')", name="ck_dumps_status"
        ),
    )
    op.create_index("ix_dumps_sha256", "dumps", ["sha256"])
    op.create_index(
        "uq_dumps_sha256_ingested",
        "dumps",
        ["sha256"],
        unique=True,
        sqlite_where=sa.text("status = 'ingested'"),
        postgresql_where=sa.text("status = 'ingested'"),
    )


def downgrade() -> None:
    op.drop_table("paper_dumps")
    op.drop_table("dumps")
    op.drop_table("papers")
