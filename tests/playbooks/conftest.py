"""Fixtures for the playbook tests: an App on SQLite (the rule-based model) and its playbook runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from graph.playbooks.runner import PlaybookRunner
from graph.policy import Policy
from memory.knowledge.embedders import UseEmbedder
from tests.conftest import make_settings

CONSOLE = "console:local"


@pytest.fixture
def make_app(tmp_path: Path, use_embedder: UseEmbedder) -> Iterator[Callable[..., App]]:
    """Build Apps on one SQLite data dir (a second call is a restart); all closed afterwards."""
    apps: list[App] = []

    def build(**kwargs: Any) -> App:
        kwargs.setdefault("embedder", use_embedder)
        settings = make_settings(tmp_path / "data", **kwargs.pop("settings", {}))
        app = App(settings, **kwargs)
        apps.append(app)
        return app

    yield build
    for a in apps:
        a.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    """An App whose policy runs task additions without asking (so steps can run unattended)."""
    return make_app(policy=Policy(trust={"tasks.add_task": "auto"}, denied=frozenset({"tasks.delete_task"})))


@pytest.fixture
def runner(app: App) -> PlaybookRunner:
    """The App's playbook runner, in UTC."""
    return PlaybookRunner(app.engine, tz=ZoneInfo("UTC"))


def start(runner: PlaybookRunner, text: str, slot: str = "manual:t") -> Any:
    """Parse and start a playbook from the console."""
    pb = runner.parse(text)
    return runner.start(pb, slot=slot, conversation="console:t", channel="console", deciders=[CONSOLE])
