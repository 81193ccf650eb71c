"""Knowledge-store fixtures: a bare database engine on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from memory.db import make_engine
from memory.knowledge.embedders import Embedder
from memory.knowledge.store import KnowledgeStore
from tests.services import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A workspace database with every table installed."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'coo.sqlite'}")
        yield engine
        engine.dispose()
    else:
        with fresh_postgres_database() as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()


@pytest.fixture
def open_store(db: Engine, tmp_path: Path) -> Iterator[Callable[[Embedder], KnowledgeStore]]:
    """Open knowledge stores on one database and one index directory (a second call is a restart)."""
    stores: list[KnowledgeStore] = []

    def build(embedder: Embedder) -> KnowledgeStore:
        store = KnowledgeStore(db, embedder, tmp_path / "knowledge").open()
        stores.append(store)
        return store

    yield build
