"""The console as a terminal program: line editing and history (prompt_toolkit), logs kept out of the
chat, and a job's messages in order. The prompt is driven through prompt_toolkit's pipe input."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys
import threading
import time
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
    logging.getLogger("graph.ladder").warning("the model timed out with key hunter2")
    assert chat.getvalue() == ""
    assert "the model timed out" in log_file.read_text() and "hunter2" not in log_file.read_text()
    # --verbose: to the stream (stderr), at INFO
    setup_logging(Redactor([]), verbose=True, stream=chat, file=log_file)
    logging.getLogger("graph.ladder").info("verbose line")  # a module logger (bolt sets "coo" to WARNING)
    assert "verbose line" in chat.getvalue() and "verbose line" not in log_file.read_text()


def test_a_jobs_messages_appear_in_order_after_the_line_that_asked(app_factory):
    app = app_factory()
    app.start_workers()
    read_fd, write_fd = os.pipe()
    out = io.StringIO()
    codes: list[int] = []
    with os.fdopen(read_fd) as stdin:
        console = threading.Thread(target=lambda: codes.append(run_console(app, stdin, out)), daemon=True)
        console.start()
        with os.fdopen(write_fd, "w") as keyboard:
            # When a line starts a job...
            keyboard.write("reindex\n")
            keyboard.flush()
            wait_for(lambda: "Memory re-indexed" in out.getvalue(), timeout=60, what="the job's result")
            keyboard.write("balance\n")
            keyboard.flush()
            wait_for(lambda: "Balance:" in out.getvalue(), timeout=60, what="the next answer")
        console.join(30)  # the end of input ends the console before its stdin is closed
    assert codes == [0]
    text = out.getvalue()
    # ...the line comes first, then the job's message, its result, and only then the next line.
    marks = ["> reindex", "Re-indexing memory", "Memory re-indexed", "> balance", "Balance: $0.00."]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions), text


class Terminal:
    """`coo chat` on a pseudo-terminal, as a user sees it: keys in, the screen's bytes out."""

    PROMPT = "you ›".encode()

    def __init__(self, data_dir: Path) -> None:
        env = {**os.environ, "COO_DATA_DIR": str(data_dir), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
        self.fd, tty = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "chat"], stdin=tty, stdout=tty, stderr=tty, env=env
        )
        os.close(tty)  # the child holds the terminal now; reading ends (EIO) when it exits
        self.screen = b""

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False once coo has closed the terminal."""
        if select.select([self.fd], [], [], timeout)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child exited
                return False
            if not chunk:
                return False
            self.screen += chunk
        return True

    def prompt_after(self, text: str, count: int = 1, timeout: float = 60) -> None:
        """Wait until ``text`` was shown ``count`` times and a prompt was drawn after it."""
        token = text.encode()
        deadline = time.monotonic() + timeout
        while not (
            self.screen.count(token) >= count and self.screen.rfind(self.PROMPT) > self.screen.rfind(token)
        ):
            left = deadline - time.monotonic()
            assert left > 0 and self._read(min(left, 0.5)), self.screen.decode(errors="replace")[-2000:]

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def exit_code(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.5):
            assert time.monotonic() < deadline, self.screen.decode(errors="replace")[-2000:]
        code = self.proc.wait(timeout)
        os.close(self.fd)
        return code


def test_a_real_terminal_edits_recalls_and_leaves_on_ctrl_c(tmp_path: Path, database_url: str):
    data = tmp_path / "data"
    term = Terminal(data)
    term.prompt_after("coo is ready")
    term.type("balance\r")
    term.prompt_after("Balance: $0.00.")
    # The up arrow brings the line back instead of typing ^[[A
    term.type(f"{UP}\r")
    term.prompt_after("Balance: $0.00.", count=2)
    term.type(CTRL_C)
    assert term.exit_code() == 130
    assert b"interrupted; unfinished work resumes at the next start" in term.screen
    assert b"Traceback" not in term.screen
    # the history is in the data dir; no log line reached the screen
    assert "+balance" in (data / "history").read_text()
    assert b'"level"' not in term.screen
