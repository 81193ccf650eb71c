"""Embedders: the embedded USE model (semantic, offline) and an OpenAI-compatible endpoint (real client)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from memory.db import transaction
from memory.knowledge.embedders import HashingEmbedder, OpenAIEmbedder
from memory.knowledge.errors import EmbeddingFailed
from tests.fakes.embeddings_server import FakeEmbeddings
from tests.fakes.server import serve


def test_use_gives_semantic_similarity(use_embedder):
    a, b, c = use_embedder.embed(
        [
            "Can a customer get their money back?",
            "Refunds are given within 30 days.",
            "The van needs new tyres.",
        ]
    )
    assert use_embedder.embed(["x"]).shape == (1, 512)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) > float(a @ c) + 0.1  # related beats unrelated, with no word in common


def test_use_never_touches_the_network():
    # An audit hook (a Python runtime feature, not a patch of any library) refuses every socket use.
    script = textwrap.dedent(
        """
        import sys
        def refuse(event, args):
            if event.startswith("socket.") and event != "socket.__new__":
                raise RuntimeError(f"network use: {event} {args!r}")
        sys.addaudithook(refuse)
        from memory.knowledge.embedders import UseEmbedder
        vec = UseEmbedder().embed(["offline embedding works"])
        print(vec.shape)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 512)"


@pytest.fixture
def fake_embeddings():
    hashing = HashingEmbedder(dim=64)
    fake = FakeEmbeddings(embed=lambda text: (hashing.embed([text])[0] * 3.0).tolist())
    with serve(fake.app()) as url:
        fake.base_url = url + "/v1"
        yield fake


def test_openai_embeddings_through_the_real_client(fake_embeddings):
    emb = OpenAIEmbedder(model="text-embedding-3-small", api_key="sk-test", base_url=fake_embeddings.base_url)
    vecs = emb.embed(["invoice Acme", "hosting bill"])
    assert vecs.shape == (2, 64)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)  # normalised on our side
    [body] = fake_embeddings.requests
    assert body["model"] == "text-embedding-3-small" and body["input"] == ["invoice Acme", "hosting bill"]
    assert emb.name == "openai:text-embedding-3-small"


def test_openai_embeddings_failure_is_a_clear_error(fake_embeddings):
    fake_embeddings.fail = True
    emb = OpenAIEmbedder(model="m", api_key="sk-test", base_url=fake_embeddings.base_url)
    with pytest.raises(EmbeddingFailed, match="embedding with openai:m failed"):
        emb.embed(["x"])


def test_switching_to_openai_embeddings_rebuilds(open_store, use_embedder, fake_embeddings):
    local = open_store(use_embedder)
    with transaction(local.engine) as s:
        item = local.remember(s, "Dana at Acme wants invoices on the last business day").item
    local.close()
    remote = open_store(OpenAIEmbedder(model="emb", api_key="k", base_url=fake_embeddings.base_url))
    assert remote.keeper.index.dim == 64
    assert remote.search("Acme invoices", mode="vector")[0].id == item.id
    assert sum(len(r["input"]) for r in fake_embeddings.requests) == 2  # the row, then the query
