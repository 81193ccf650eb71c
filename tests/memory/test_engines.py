"""Opening the database: one-line errors that name where it is (never a password), and a start that skips
Alembic when the schema is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bot.doctor import check_database
from memory import migrate
from memory.db import at_head, make_engine, script_head
from memory.engines import ensure_data_dir, where
from memory.errors import DatabaseUnreachable, DataDirUnwritable, UnsupportedDatabase
from tests.conftest import make_settings
from tests.fakes.smtp_server import free_port


def test_an_unreachable_server_is_named_with_database_url_and_no_password():
    port = free_port()
    with pytest.raises(DatabaseUnreachable) as err:
        make_engine(f"postgresql://coo:hunter2@127.0.0.1:{port}/books")
    text = str(err.value)
    assert text == (
        f"cannot reach the database at 127.0.0.1:{port}/books (connection refused); "
        "check DATABASE_URL and that the server is up"
    )
    assert "\n" not in text


@pytest.mark.parametrize(
    ("url", "named"),
    [("mysql://coo:pw@db/books", "mysql://"), ("mssql+pyodbc://h/db", "mssql://"), ("books.db", "not a URL")],
)
def test_an_unsupported_url_is_refused_before_any_driver_loads(url: str, named: str):
    with pytest.raises(UnsupportedDatabase) as err:
        make_engine(url)
    assert named in str(err.value) and "DATABASE_URL" in err.value.fix


def test_a_sqlite_file_that_cannot_be_opened_names_the_file(tmp_path: Path):
    path = tmp_path / "missing" / "coo.sqlite"
    with pytest.raises(DatabaseUnreachable) as err:
        make_engine(f"sqlite:///{path}")
    assert str(path) in str(err.value)


def test_an_unwritable_data_dir_names_the_path_and_doctor_does_not_blame_database_url(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataDirUnwritable) as err:
        ensure_data_dir(blocker / "data")
    assert str(blocker / "data") in err.value.what and "COO_DATA_DIR" in err.value.fix
    found = check_database(make_settings(blocker / "data"))
    assert not found.ok and "DATABASE_URL" not in found.detail + found.fix


def test_where_never_shows_a_password():
    assert where("postgresql://coo:hunter2@db.example:6543/books") == "db.example:6543/books"
    assert where("sqlite:////var/coo/coo.sqlite") == "/var/coo/coo.sqlite"


def test_a_current_schema_is_recognised_from_the_scripts(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'coo.sqlite'}")
    try:
        assert script_head() == migrate.head()  # read from the scripts' text, as Alembic reads them
        assert at_head(engine)
    finally:
        engine.dispose()
    blank = create_engine(f"sqlite:///{tmp_path / 'blank.sqlite'}")
    try:
        assert not at_head(blank)
    finally:
        blank.dispose()


def test_a_pooled_postgres_connection_killed_while_idle_is_replaced_before_use(monkeypatch):
    from sqlalchemy import text

    from memory import db as dbmod
    from tests.services import fresh_postgres_database

    with fresh_postgres_database() as url:
        engine = make_engine(url)
        engine.dispose()  # one connection in the pool from here on: the one killed below
        try:
            with engine.connect() as conn:
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            # The server drops the pooled connection while it sits idle (a restart, an idle timeout)...
            import psycopg

            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))
            monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_S", 0.0)  # every idle connection counts as idle long
            # ...and the next user gets a live connection, not an error.
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        finally:
            engine.dispose()
