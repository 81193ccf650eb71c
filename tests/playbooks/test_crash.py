"""kill -9 in the middle of a playbook: it resumes at its checkpoint, and no step's effect is doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.app import App
from graph.playbooks.runner import PlaybookRunner
from memory import playbooks as store
from memory.tables import Event, Task
from tests.conftest import make_settings
from tests.playbooks.crash_child import POLICY

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, "the child died before its blocking step"
        assert time.monotonic() < deadline, "the child never reached its blocking step"
        time.sleep(0.05)


def test_kill_9_mid_playbook_resumes_at_its_checkpoint_without_doubling(tmp_path: Path, use_embedder: Any) -> None:
    data, marker = tmp_path / "data", tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-m", "tests.playbooks.crash_child", str(data), str(marker)], cwd=ROOT)
    try:
        _wait_for(marker, proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    app = App(make_settings(data), policy=POLICY, embedder=use_embedder)
    try:
        runner = PlaybookRunner(app.engine, tz=ZoneInfo("UTC"))
        runner.queries["block"] = lambda ctx, args: "(after the crash)"
        [row] = store.runs_of(app.db, "crashy")
        assert row.status == "running"
        rep = runner.run_claimed(row.id, app.deciders_for)  # what the redelivered job does
        assert rep.status == "done" and "both added" in rep.text
        with Session(app.db) as s:
            tasks = sorted(t.text for t in s.exec(select(Task)).all())
            effects = s.exec(select(Event).where(Event.kind == "effect")).all()
        assert tasks == ["first task", "second task (after the crash)"]
        assert len(effects) == 2
        assert "1. first [op] done" in runner.trace(row.id)
    finally:
        app.close()
