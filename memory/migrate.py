"""Schema migrations with Alembic: `coo migrate`, and on every start.

A database made before migrations existed (by ``create_all``) is stamped at the baseline first, so it
upgrades like any other. Processes starting together take turns under the schema lock.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

BASELINE = "0001"
_DIR = Path(__file__).parent / "migrations"


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine) -> str | None:
    """Bring the schema to the newest revision and return it."""
    with engine.begin() as conn:
        cfg = _config(conn)
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" not in tables and "run" in tables:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    """Return the newest revision in the scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def autogenerate(engine: Engine, message: str) -> None:
    """Write a new revision from the difference between the tables and the database (developers)."""
    with engine.begin() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)
