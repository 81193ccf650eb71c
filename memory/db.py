"""Database engines for the embedded default (SQLite) and for PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlmodel import Session, create_engine

from memory import callbacks, cost_tables, invoices, job_tables, ledger, retrievals, tables, workspace  # noqa: F401  (registers the tables on SQLModel.metadata)
from memory import crm as crm_tables  # noqa: F401
from memory.engines import check_url, ensure_data_dir, unreachable
from memory.knowledge import tables as knowledge_tables  # noqa: F401
from memory.playbook_tables import PlaybookRun  # noqa: F401, I001  (the playbooks and their runs)
from memory.trust_tables import TrustLevel  # noqa: F401, I001  (the trust levels granted)
from memory.ui_tables import UiLink  # noqa: F401, I001  (the web console's links and sessions)

SQLITE_BUSY_TIMEOUT_MS = 15_000


def is_postgres(url: str) -> bool:
    """Tell whether a database URL points at PostgreSQL."""
    return url.startswith(("postgres://", "postgresql://", "postgresql+"))


def sqlalchemy_url(url: str) -> str:
    """Return the SQLAlchemy form of a database URL (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def sqlite_url(data_dir: Path, name: str = "coo.sqlite") -> str:
    """Return the URL of the embedded SQLite database under the data directory."""
    ensure_data_dir(data_dir)
    return f"sqlite:///{data_dir / name}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the checkpointer, the workspace and the job table read while one writes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for the workspace and install the schema.

    Args:
        url: A SQLite or PostgreSQL URL.

    Returns:
        A SQLAlchemy engine whose schema (tables and append-only guards) exists.

    Raises:
        UnsupportedDatabase: The URL is neither SQLite nor PostgreSQL.
        DatabaseUnreachable: The database could not be opened (the message names where it is).
    """
    check_url(url)
    if is_postgres(url):
        engine = create_engine(
            sqlalchemy_url(url),
            pool_size=10,
            max_overflow=20,
            connect_args={"connect_timeout": 10},  # an unreachable host fails in seconds, not minutes
        )
        _ping_when_idle(engine)
    else:
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with schema_lock(engine):
            if not at_head(engine):  # the usual start skips loading Alembic (a tenth of a second)
                from memory import migrate  # Alembic's env imports this module: import it late

                migrate.upgrade(engine)
            _install_append_only_guards(engine)
    except DBAPIError as exc:
        engine.dispose()
        if not exc.connection_invalidated and not _is_connect_error(exc):
            raise
        raise unreachable(url, exc) from None
    return engine


PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it sat idle for a while.

    ``pool_pre_ping`` pinged on every checkout: a round trip per transaction, a third of an enqueue's
    time under load. A connection back in use within a second was alive a moment ago; one idle for
    longer (the server may have restarted meanwhile) is pinged, and a dead one is replaced before use.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool discards it and connects afresh
            raise DisconnectionError() from exc


_REVISION = re.compile(r'^(down_revision|revision)\s*(?::[^=]*)?=\s*(None|"[^"]*"|\'[^\']*\')', re.M)


def script_head() -> str | None:
    """Return the newest revision of the migration scripts, read from their text (None if unclear)."""
    revisions, downs = set(), set()
    for path in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        found: dict[str, str] = {m[1]: m[2] for m in _REVISION.finditer(path.read_text(encoding="utf-8"))}
        if "revision" not in found:
            return None
        revisions.add(found["revision"].strip("\"'"))
        if found.get("down_revision", "None") != "None":
            downs.add(found["down_revision"].strip("\"'"))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: Engine) -> bool:
    """Tell whether the database's schema is at the scripts' newest revision (then there is nothing to do)."""
    head = script_head()
    if head is None:
        return False
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]


def _is_connect_error(exc: DBAPIError) -> bool:
    """Tell whether an error happened while connecting (not a failing statement on a live connection)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    text = str(exc.orig).lower()
    return exc.statement is None or any(
        s in text for s in ("connect", "unable to open database file", "timeout", "host")
    )


SCHEMA_LOCK_KEY = 0x0C00  # a PostgreSQL advisory lock id for schema changes by any coo process


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while changing the schema, so processes starting together take turns.

    The lock is polled with pg_try_advisory_lock from an autocommit connection: a session blocked inside
    pg_advisory_lock keeps a snapshot open, and LangGraph's CREATE INDEX CONCURRENTLY in the process that
    holds the lock would wait for it forever. On SQLite the database's own write lock is enough.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        acquire_advisory_lock(
            lambda: bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEMA_LOCK_KEY}).scalar()
            )
        )
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEMA_LOCK_KEY})


def acquire_advisory_lock(try_lock: Callable[[], bool], timeout_s: float = 300.0) -> None:
    """Poll ``try_lock`` until it succeeds (another process is migrating), or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while not try_lock():
        if time.monotonic() > deadline:
            raise TimeoutError("another process held the schema lock for too long")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _install_append_only_guards(engine: Engine) -> None:
    """Make the event log refuse UPDATE and DELETE at the database level."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for op in ("UPDATE", "DELETE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER IF NOT EXISTS event_no_{op.lower()} BEFORE {op} ON event "
                        "BEGIN SELECT RAISE(ABORT, 'event log is append-only'); END"
                    )
                )
        elif engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION coo_event_append_only() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'event log is append-only'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(text("DROP TRIGGER IF EXISTS event_append_only ON event"))
            conn.execute(
                text(
                    "CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event "
                    "FOR EACH ROW EXECUTE FUNCTION coo_event_append_only()"
                )
            )


_WRITE_GATES: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_GATES_GUARD = threading.Lock()


def _write_gate(engine: Engine) -> threading.RLock | None:
    """Return the process's write gate for an embedded SQLite database (None for PostgreSQL).

    SQLite has one writer at a time, and a writer that finds the database locked waits in SQLite's busy
    handler, which sleeps in growing steps (up to 100 ms) and so loses again and again to threads that
    keep writing: an inbox write that an acknowledgement waits for could starve for seconds behind the
    engine's runs. Taking turns on a Python lock first hands the database over at once instead.
    """
    if engine.dialect.name != "sqlite":
        return None
    with _GATES_GUARD:
        gate = _WRITE_GATES.get(engine)
        if gate is None:
            gate = _WRITE_GATES[engine] = threading.RLock()
        return gate


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """Open a session whose work commits on success and rolls back on error."""
    gate = _write_gate(engine)
    with gate if gate is not None else nullcontext(), Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """Open a connection on which every statement is a transaction of its own (commits as it returns).

    For work that is one statement (a job's claim or finish): on PostgreSQL that is one round trip,
    where a transaction costs three (BEGIN, the statement, COMMIT) and the ORM's bookkeeping around them.
    SQLite writers take turns on the process's write gate, as in ``transaction``.
    """
    gate = _write_gate(engine)
    with (
        gate if gate is not None else nullcontext(),
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
    ):
        yield conn
