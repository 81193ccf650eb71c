"""The research agent's typed input and output: what it is asked, and what a research job found."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from connectors.errors import UrlRefused
from connectors.netcheck import parse_url

FETCH_KIND = "research.fetch"
"""The research job's kind (its job: ``agents.research.job``)."""

MAX_URLS = 5
MAX_URL_CHARS = 290  # the knowledge store keeps 300 characters of provenance: "web:" + the URL
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>\"'`]+")
_TRAILING = ".,;:!?)]}>"


def find_urls(text: str) -> list[str]:
    """Return the URLs written in a text (any scheme, so that ``file://`` is found and refused)."""
    return [m.group(0).rstrip(_TRAILING) for m in _URL.finditer(text)]


class ResearchArgs(BaseModel):
    """Arguments of a research request: a topic, URLs, or both (URLs in the topic are taken too)."""

    topic: str = Field(default="", max_length=500, description="What to find out, in the operator's words")
    urls: list[str] = Field(
        default_factory=list,
        max_length=MAX_URLS,
        description=f"Pages to read (http or https, at most {MAX_URLS}); URLs in the topic are added",
    )

    @model_validator(mode="after")
    def _gather_urls(self) -> ResearchArgs:
        self.topic = self.topic.strip()
        seen: list[str] = []
        for raw in [*self.urls, *find_urls(self.topic)]:
            try:
                url = str(parse_url(raw))
            except UrlRefused as exc:
                raise ValueError(str(exc)) from None
            if len(url) > MAX_URL_CHARS:
                raise ValueError(f"a URL may have at most {MAX_URL_CHARS} characters")
            if url not in seen:
                seen.append(url)
        if len(seen) > MAX_URLS:
            raise ValueError(f"at most {MAX_URLS} URLs per research (got {len(seen)})")
        if not seen and not self.topic:
            raise ValueError("give a topic or a URL to read")
        self.urls = seen
        return self


class ResearchSource(BaseModel):
    """One page read: where, what it was called, where it is kept, and whether it was cut."""

    n: int
    url: str
    final_url: str
    title: str
    item_id: int | None = None  # the knowledge item holding its text
    chars: int = 0
    truncated: bool = False


class ResearchFailure(BaseModel):
    """One URL that could not be read, and why (in words safe to show)."""

    url: str
    error: str
    permanent: bool = True

    def line(self) -> str:
        """Return the failure in one line, naming the URL once."""
        return self.error if self.error.startswith(self.url) else f"{self.url}: {self.error}"


class ResearchResult(BaseModel):
    """What a research job found: the summary, its numbered sources, and how it was made."""

    topic: str
    summary: str
    sources: list[ResearchSource]
    failures: list[ResearchFailure] = Field(default_factory=list)
    method: Literal["model", "extractive"]
    prompt_version: str
    model: str | None = None
    cost_usd: float = 0.0
    stored: list[int] = Field(default_factory=list)  # knowledge items this job created (Undo forgets them)
    max_bytes: int = 0

    def render(self) -> str:
        """Return the chat text: the summary, then the numbered sources, then what failed."""
        how = f"summarised by {self.model}" if self.method == "model" else "extractive summary, no model call"
        head = f"Research: {self.topic}" if self.topic else "Research"
        lines = [f"{head} ({how}; from untrusted web pages)", self.summary, "", "Sources:"]
        for s in self.sources:
            note = f" — truncated: only the first {self.max_bytes:,} bytes were read" if s.truncated else ""
            kept = f" (memory #{s.item_id})" if s.item_id is not None else ""
            lines.append(f"[{s.n}] {s.title or '(untitled)'} — {s.final_url}{kept}{note}")
        if self.failures:
            lines.append("Not read:")
            lines += [f"- {f.line()}" for f in self.failures]
        return "\n".join(lines)
