"""`coo serve` loads the local embedding model before it takes requests (not inside the first turns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from bot.server import build_server
from memory.knowledge.embedders import UseEmbedder
from tests.fakes.server import serve


class CountingUse(UseEmbedder):
    """The local model, counting the calls that reach it."""

    def __init__(self, inner: UseEmbedder) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.version = inner.name, inner.version

    def embed(self, texts: Sequence[str]) -> Any:
        self.calls += 1
        return self.inner.embed(texts)


def test_the_local_model_is_loaded_before_the_server_answers(app_factory, use_embedder):
    embedder = CountingUse(use_embedder)
    app = app_factory(embedder=embedder)
    before = embedder.calls
    with serve(build_server(app, []), lifespan="on") as url:
        assert embedder.calls == before + 1  # loaded during start-up, before any request
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


class Remote:
    """A remote embedder: warming it up would be a paid call."""

    name, version, dim = "remote", "1", 3

    def __init__(self, inner: UseEmbedder) -> None:
        self.inner, self.calls = inner, 0

    def embed(self, texts: Sequence[str]) -> Any:
        self.calls += 1
        return self.inner.embed(texts)


def test_a_remote_embedder_is_not_called_at_start(app_factory, use_embedder):
    embedder = Remote(use_embedder)
    app = app_factory(embedder=embedder)
    before = embedder.calls
    with serve(build_server(app, []), lifespan="on") as url:
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    assert embedder.calls == before
