"""The crash matrix: kill -9 at every step boundary of a run, restart, and check that the approved action
happened exactly once, nothing approved was lost, and the chat ends in a true state. Embedded (SQLite,
in-memory broker) and scale-out (PostgreSQL with the Redis broker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from graph.faults import POINTS
from tests.services import redis_url

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("COO_", "OPENAI_", "SLACK_", "TELEGRAM_"))}


def driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.crash.driver", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=180,
        cwd=Path(__file__).resolve().parents[2],
    )


def chat(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_boundary(point: str, tmp_path: Path, database_url: str | None):
    if database_url is not None:
        redis_url()  # the PostgreSQL cells run with the Redis broker too: skip or fail like the others
    db = database_url or "-"
    crashed = driver(str(tmp_path), db, "crash", point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]

    finished = driver(str(tmp_path), db, "finish")
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    # The approved expense happened exactly once and was undone exactly once; nothing is left pending.
    assert report == {"events": ["compensation", "effect"], "entries": ["expense", "reversal"], "pending": 0}
    # The chat tells the truth: the card, its effect, its undo; stale clicks say so.
    lines = chat(tmp_path / "chat.jsonl")
    texts = [m["text"] for m in lines]
    assert any(t.startswith(("Done: Recorded expense", "Already done: Recorded expense")) for t in texts)
    # The undo is reported, or, when the crash fell between its commit and its message, a click on the
    # stale Undo button says it was already undone.
    assert any(t.startswith("Undone:") for t in texts) or point == "after_undo_commit"
    assert any(t.startswith("Already approved") for t in texts)
    assert any(t.startswith("Already undone") for t in texts)
