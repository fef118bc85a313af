"""An instance made by an earlier release: `verivali init` adds what the models gained
(columns with their defaults, indexes) without touching the rows (server/db.py)."""

from __future__ import annotations

from sqlalchemy import inspect, text

from server.config import Settings
from server.db import Database, upgrade_additively
from server.models import Project


def test_a_fresh_schema_needs_no_upgrade(settings: Settings) -> None:
    """Tables made from the models are already what the models say."""
    database = Database(settings)
    try:
        database.create_all()
        assert upgrade_additively(database.engine) == []
    finally:
        database.dispose()


def test_missing_columns_and_changed_indexes_are_added(settings: Settings) -> None:
    """A project without the newer columns gets them, defaults filled; an index comes back."""
    database = Database(settings)
    try:
        database.create_all()
        with database.transaction() as session:
            session.add(Project(name="Kota Lama"))
        with database.engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_flags_rule"))
            connection.execute(text("CREATE INDEX ix_flags_rule ON flags (rule)"))
            connection.execute(text("ALTER TABLE projects DROP COLUMN two_level_approval"))
            connection.execute(text("ALTER TABLE projects DROP COLUMN timezone"))
        done = upgrade_additively(database.engine)
        assert any("two_level_approval" in step for step in done)
        assert any("timezone" in step for step in done) and "index ix_flags_rule" in done
        with database.engine.connect() as connection:
            row = connection.execute(
                text("SELECT two_level_approval, timezone FROM projects WHERE name = 'Kota Lama'")
            ).one()
        assert not row[0] and row[1] is None
        indexes = {
            i["name"]: i["column_names"] for i in inspect(database.engine).get_indexes("flags")
        }
        assert indexes["ix_flags_rule"] == ["rule", "submission_id"]
        assert upgrade_additively(database.engine) == []
    finally:
        database.dispose()
