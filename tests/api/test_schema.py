"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlmodel import SQLModel

import api.models  # noqa: F401 - registers the tables
from api.db import make_engine, migrate
from api.settings import Settings


def test_migrations_match_models(tmp_path: Path) -> None:
    engine = make_engine(Settings(data_dir=tmp_path, master_passphrase="x"))
    migrate(engine)
    migrate(engine)  # idempotent
    inspector = inspect(engine)
    for name, table in SQLModel.metadata.tables.items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name
    engine.dispose()
