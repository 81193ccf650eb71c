"""Schema migrations: the scripts build exactly the tables the code declares, on SQLite and PostgreSQL,
and a database made before migrations existed is adopted."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from memory import migrate
from memory.db import make_engine, sqlalchemy_url


def _diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(ctx, SQLModel.metadata)
    # Objects the code installs itself (full-text index, triggers) are not declared as tables.
    return [
        d
        for d in diffs
        if not (d[0] == "remove_table" and "fts" in d[1].name)
        and not (d[0] in ("remove_column", "remove_index") and "tsv" in str(d))
    ]


def test_migrations_build_the_declared_schema(tmp_path, database_url):
    url = database_url or f"sqlite:///{tmp_path / 'm.sqlite'}"
    engine = make_engine(url)
    try:
        assert migrate.upgrade(engine) == migrate.head()
        assert _diff(engine) == [], (
            "a table or column changed without a migration: run memory.migrate.autogenerate"
        )
    finally:
        engine.dispose()


def test_a_database_from_before_migrations_is_adopted(tmp_path):
    # A database as create_all made it before migrations existed: the baseline's tables, no version row.
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = create_engine(sqlalchemy_url(url))
    with old.begin() as conn:
        command.upgrade(migrate._config(conn), migrate.BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
    assert (
        "alembic_version" not in inspect(old).get_table_names()
        and "job" not in inspect(old).get_table_names()
    )
    old.dispose()
    engine = make_engine(url)
    try:
        assert migrate.upgrade(engine) == migrate.head()
    finally:
        engine.dispose()
