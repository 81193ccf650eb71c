"""The console as a terminal program: line editing and history (prompt_toolkit), logs kept out of the
chat, and a job's messages in order. The prompt is driven through prompt_toolkit's pipe input."""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from bot.console import PromptReader, run_console
from bot.logs import setup_logging
from memory.redact import Redactor
from tests.fakes.server import wait_for

UP, HOME, CTRL_C, CTRL_D = "\x1b[A", "\x1b[H", "\x03", "\x04"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def typed(app, keys: str, history: Path) -> tuple[int, str]:
    """Run the console on ``keys`` as typed at a terminal; return its exit code and what it printed."""
    out = io.StringIO()
    with create_pipe_input() as keyboard:
        keyboard.send_text(keys)
        reader = PromptReader(history, input=keyboard, output=DummyOutput())
        code = run_console(app, io.StringIO(), out, reader=reader)
    return code, out.getvalue()


def test_line_editing_and_history_across_sessions(app_factory, tmp_path: Path):
    app = app_factory()
    history = tmp_path / "history"
    # Given a line typed with a correction at its start (Home, then the missing letter)...
    code, out = typed(app, f"xpense 12 coffee{HOME}e\rreject\r{UP}{UP}\r{CTRL_D}", history)
    # ...it is read as corrected, and the up arrow brings it back (no `^[[A` typed into the line).
    assert code == 0
    assert out.count("Record an expense of $12.00") == 2, out
    assert "^[" not in out
    # The history is kept in its file, so the next session's up arrow finds the last line.
    assert "+expense 12 coffee\n" in history.read_text() and "+reject\n" in history.read_text()
    code, out = typed(app, f"balance\r{CTRL_D}", history)
    code, again = typed(app, f"{UP}\r{CTRL_D}", history)
    assert code == 0 and "Balance: $0.00." in again


def test_ctrl_c_at_the_prompt_leaves_cleanly(app_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, _ = typed(app_factory(), f"bal{CTRL_C}", tmp_path / "history")
    assert code == 130
    assert "interrupted; unfinished work resumes at the next start" in capsys.readouterr().err


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Give the root logger back its handlers and level after a test that sets up logging."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers:
        h.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_log_lines_go_to_the_log_file_not_the_chat(tmp_path: Path, root_logging: None, database_url: str):
    chat = io.StringIO()
    log_file = tmp_path / "coo.log"
    setup_logging(Redactor(["hunter2"]), stream=chat, file=log_file)
    logging.getLogger("coo.test").warning("the model timed out with key hunter2")
    assert chat.getvalue() == ""
    assert "the model timed out" in log_file.read_text() and "hunter2" not in log_file.read_text()
    # --verbose: to the stream (stderr), at INFO
    setup_logging(Redactor([]), verbose=True, stream=chat, file=log_file)
    logging.getLogger("coo.test").info("verbose line")
    assert "verbose line" in chat.getvalue() and "verbose line" not in log_file.read_text()


def test_a_jobs_messages_appear_in_order_after_the_line_that_asked(app_factory):
    app = app_factory()
    app.start_workers()
    read_fd, write_fd = os.pipe()
    out = io.StringIO()
    with os.fdopen(read_fd) as stdin, os.fdopen(write_fd, "w") as keyboard:
        console = threading.Thread(target=run_console, args=(app, stdin, out), daemon=True)
        console.start()
        # When a line starts a job...
        keyboard.write("reindex\n")
        keyboard.flush()
        wait_for(lambda: "Memory re-indexed" in out.getvalue(), timeout=60, what="the job's result")
        keyboard.write("balance\n")
        keyboard.flush()
        wait_for(lambda: "Balance:" in out.getvalue(), timeout=60, what="the next answer")
    console.join(30)
    text = out.getvalue()
    # ...the line comes first, then the job's message, its result, and only then the next line.
    marks = ["> reindex", "Re-indexing memory", "Memory re-indexed", "> balance", "Balance: $0.00."]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions), text
