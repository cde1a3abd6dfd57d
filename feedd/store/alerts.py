"""Small reads and writes for feedd's own alerts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from feedd.store.db import begin_write, storage_errors
from feedd.store.models import alert_state, dumps


def last_ingest_at(engine: sa.Engine) -> datetime | None:
    """When the newest dump that stored anything arrived."""
    query = sa.select(sa.func.max(dumps.c.received_at)).where(dumps.c.status == "ingested")
    with storage_errors(engine), engine.connect() as conn:
        value: datetime | None = conn.execute(query).scalar_one_or_none()  # max() keeps the type
        return value


def get_alert_state(engine: sa.Engine, name: str) -> str | None:
    query = sa.select(alert_state.c.value).where(alert_state.c.name == name)
    with storage_errors(engine), engine.connect() as conn:
        value: str | None = conn.execute(query).scalar_one_or_none()
        return value


def set_alert_state(engine: sa.Engine, name: str, value: str, *, now: datetime) -> None:
    with storage_errors(engine), begin_write(engine) as conn:
        updated = conn.execute(
            alert_state.update()
            .where(alert_state.c.name == name)
            .values(value=value, updated_at=now)
        )
        if not updated.rowcount:
            conn.execute(alert_state.insert().values(name=name, value=value, updated_at=now))
