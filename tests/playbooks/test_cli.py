"""`coo trace` shows a playbook run step by step; `coo replay RUN --from <step>` runs it again from that step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bot.app import App
from bot.commands import command
from memory import playbooks as store
from tests.bot.test_cli import coo
from tests.conftest import make_settings
from tests.playbooks.conftest import CONSOLE


def test_coo_trace_and_replay_of_a_playbook_run(use_embedder: Any) -> None:
    app = App(make_settings(Path(os.environ["COO_DATA_DIR"])), embedder=use_embedder)
    try:
        replies = command(app, "console:t", CONSOLE, "playbook run month-end")
        assert replies is not None and replies[0].text.startswith("Month end:")
        [run] = store.runs_of(app.db, "month-end")
    finally:
        app.close()
    trace = coo("trace", run.id)
    assert trace.returncode == 0, trace.stderr[-2000:]
    lines = trace.stdout.splitlines()
    assert lines[0] == f"Playbook month-end v1, run {run.id} ({run.slot}): done"
    assert [line.split(" (checkpoint")[0] for line in lines if line[:1].isdigit()] == [
        "1. month [query] done", "2. summary [query] done", "3. still_open [query] done", "4. tell [message] done",
    ]
    replay = coo("replay", run.id, "--from", "tell")
    assert replay.returncode == 0 and "Playbook month-end finished." in replay.stdout, replay.stderr[-2000:]
    wrong = coo("replay", run.id, "--from", "nope")
    assert "Playbook month-end has no step 'nope'." in wrong.stdout
