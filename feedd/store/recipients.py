"""E-mail recipients: the token behind each unsubscribe link, and who asked to stop.

A token is random (not derived from the address), made the first time an address of a
subscription is e-mailed, and kept, so every e-mail to that address for that subscription carries
the same link. Pausing is per address and subscription; ``feedd subs resume`` undoes it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from feedd.store.db import begin_write, storage_errors
from feedd.store.models import email_recipients, subscriptions


@dataclass(frozen=True)
class Recipient:
    token: str
    address: str
    subscription_id: int
    subscription_name: str
    subscription_title: str | None
    paused_at: datetime | None


_SELECT = sa.select(
    email_recipients,
    subscriptions.c.name.label("subscription_name"),
    subscriptions.c.title.label("subscription_title"),
).join(subscriptions, subscriptions.c.id == email_recipients.c.subscription_id)


def _recipient(row: sa.Row[tuple[object, ...]]) -> Recipient:
    mapping = row._mapping
    return Recipient(
        token=mapping["token"],
        address=mapping["address"],
        subscription_id=mapping["subscription_id"],
        subscription_name=mapping["subscription_name"],
        subscription_title=mapping["subscription_title"],
        paused_at=mapping["paused_at"],
    )


def recipient(engine: sa.Engine, subscription_id: int, address: str) -> Recipient:
    """The recipient row for this address of this subscription, made on first use."""
    where = sa.and_(
        email_recipients.c.subscription_id == subscription_id,
        email_recipients.c.address == address,
    )
    with storage_errors(engine):
        with engine.connect() as conn:
            row = conn.execute(_SELECT.where(where)).one_or_none()
        if row is not None:
            return _recipient(row)
        with begin_write(engine) as conn:
            # Another process may have made it meanwhile: insert only if still missing.
            if conn.execute(sa.select(email_recipients.c.id).where(where)).first() is None:
                conn.execute(
                    email_recipients.insert().values(
                        subscription_id=subscription_id,
                        address=address,
                        token=secrets.token_urlsafe(24),
                    )
                )
            return _recipient(conn.execute(_SELECT.where(where)).one())


def paused_addresses(conn: sa.Connection, subscription_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(subscription id, address) of the recipients of these subscriptions who unsubscribed."""
    ids = list(subscription_ids)
    if not ids:
        return set()
    query = sa.select(email_recipients.c.subscription_id, email_recipients.c.address).where(
        email_recipients.c.subscription_id.in_(ids),
        email_recipients.c.paused_at.is_not(None),
    )
    return {(row.subscription_id, row.address) for row in conn.execute(query)}


def find_recipient(engine: sa.Engine, token: str) -> Recipient | None:
    with storage_errors(engine), engine.connect() as conn:
        row = conn.execute(_SELECT.where(email_recipients.c.token == token)).one_or_none()
        return _recipient(row) if row is not None else None


def pause_recipient(engine: sa.Engine, token: str, *, now: datetime) -> Recipient | None:
    """Stop e-mail to the token's address for its subscription; None for an unknown token.
    Pausing twice keeps the first time."""
    with storage_errors(engine), begin_write(engine) as conn:
        conn.execute(
            email_recipients.update()
            .where(email_recipients.c.token == token, email_recipients.c.paused_at.is_(None))
            .values(paused_at=now)
        )
        row = conn.execute(_SELECT.where(email_recipients.c.token == token)).one_or_none()
        return _recipient(row) if row is not None else None


def resume_recipient(engine: sa.Engine, subscription_name: str, address: str) -> bool:
    """E-mail the address again; False when it had not been paused."""
    ids = sa.select(subscriptions.c.id).where(subscriptions.c.name == subscription_name)
    with storage_errors(engine), begin_write(engine) as conn:
        result = conn.execute(
            email_recipients.update()
            .where(
                email_recipients.c.subscription_id.in_(ids.scalar_subquery()),
                email_recipients.c.address == address,
                email_recipients.c.paused_at.is_not(None),
            )
            .values(paused_at=None)
        )
        return bool(result.rowcount)
