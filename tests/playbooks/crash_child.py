"""A process that runs a playbook until its second step, which blocks until the test kills it (kill -9)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import App
from graph.playbooks.queries import QueryContext
from graph.playbooks.runner import PlaybookRunner
from graph.policy import Policy
from memory import playbooks as store
from tests.conftest import make_settings

CRASHY = """
name: crashy
trigger: {manual: true}
steps:
  - id: first
    op: tasks.add_task
    args: {text: "first task"}
  - id: block
    query: block
  - id: second
    op: tasks.add_task
    args: {text: "second task {{ steps.block.value }}"}
  - id: tell
    message: "both added"
"""
POLICY = Policy(trust={"tasks.add_task": "auto"})


def main(data_dir: str, marker: str) -> None:
    """Start the playbook; its ``block`` step marks the file and waits to be killed."""
    app = App(make_settings(Path(data_dir)), policy=POLICY)
    runner = PlaybookRunner(app.engine, tz=ZoneInfo("UTC"))

    def block(ctx: QueryContext, args: dict[str, Any]) -> str:
        Path(marker).write_text("in step block")
        while True:
            time.sleep(1)  # killed here

    runner.queries["block"] = block
    store.save(app.db, "crashy", CRASHY, by="test")
    pb = runner.load("crashy")
    assert pb is not None
    runner.start(pb, slot="manual:crash", conversation="console:t", channel="console", deciders=["console:local"])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
