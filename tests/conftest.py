"""Shared fixtures: settings on a temporary data dir, and an App on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.settings import Settings
from memory.knowledge.embedders import UseEmbedder
from tests.services import fresh_postgres_database


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Return settings that ignore the developer's environment and .env (explicit values only)."""
    base: dict[str, Any] = {"coo_data_dir": data_dir}
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The workspace+checkpointer database: embedded SQLite (None) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture(scope="session")
def use_embedder() -> UseEmbedder:
    """The embedded default embedder, its weights loaded once for the whole session."""
    return UseEmbedder()


@pytest.fixture
def app_factory(
    tmp_path: Path, database_url: str | None, use_embedder: UseEmbedder
) -> Iterator[Callable[..., App]]:
    """Build Apps on one data dir and database (a second call is a restart); all are closed afterwards."""
    apps: list[App] = []

    def build(**kwargs: Any) -> App:
        kwargs.setdefault("embedder", use_embedder)
        settings_overrides = kwargs.pop("settings", {})
        settings = make_settings(tmp_path / "data", database_url=database_url, **settings_overrides)
        app = App(settings, **kwargs)
        apps.append(app)
        return app

    yield build
    for a in apps:
        a.close()


_ENV_PREFIXES = ("COO_", "OPENAI_", "SLACK_", "TELEGRAM_", "SMTP_", "OTEL_", "LANGSMITH_", "LANGCHAIN_")
_ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "PORT")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the developer's or CI's environment out of the tests (restored afterwards by monkeypatch).

    COO_DATA_DIR is set explicitly, and the user's data dir (the default, platformdirs) points into a
    temporary folder too, so no test (nor a `coo` process it starts with this environment) ever writes
    to the real one.
    """
    import os

    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("COO_DATA_DIR", str(home / "coo-data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
