"""`coo` as a user meets it, in real processes: one-line errors with the fix, where the data is, fast starts."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fakes.smtp_server import free_port

TIMEOUT = 120


def coo(
    *args: str, cwd: Path | None = None, input: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot.cli ARGS` with the tests' clean environment plus ``env`` ."""
    full = dict(os.environ)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        input=input,
        cwd=cwd,
        timeout=TIMEOUT,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert the command failed with ``code`` and a single line on stderr (no traceback); return it."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if not ln.startswith("coo: data in ")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("coo: ")
    return lines[0]


def test_an_unreachable_database_names_the_host_and_database_url():
    port = free_port()  # nothing listens there
    done = coo("runs", DATABASE_URL=f"postgresql://coo:hunter2@127.0.0.1:{port}/books")
    line = one_line_error(done, 2)
    assert f"127.0.0.1:{port}/books" in line and "DATABASE_URL" in line and "connection refused" in line
    assert "hunter2" not in done.stderr


def test_an_unsupported_database_scheme_is_named():
    line = one_line_error(coo("runs", DATABASE_URL="mysql://coo:pw@db.example/books"), 2)
    assert "mysql://" in line and "PostgreSQL" in line and "DATABASE_URL" in line


def test_a_data_dir_that_cannot_be_written_is_named_and_doctor_does_not_blame_database_url(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data = blocker / "data"
    line = one_line_error(coo("runs", COO_DATA_DIR=str(data)), 2)
    assert str(data) in line and "COO_DATA_DIR" in line and "DATABASE_URL" not in line
    doctor = coo("doctor", COO_DATA_DIR=str(data))
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    assert f"FAIL data: the data directory {data} cannot be created" in doctor.stdout
    assert "DATABASE_URL" not in doctor.stdout


def test_a_bad_setting_is_one_line_naming_the_variable():
    line = one_line_error(coo("runs", PORT="eighty"), 2)
    assert "PORT" in line and ".env" in line


def test_slack_manifest_without_arguments_names_both_modes():
    line = one_line_error(coo("slack-manifest"), 2)
    assert "--url" in line and "--socket-mode" in line


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "COO_OPERATORS": "slack:U1"},
            ["SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"],
        ),
        ({"SLACK_SIGNING_SECRET": "s" * 32}, ["SLACK_BOT_TOKEN"]),
        ({"SLACK_APP_TOKEN": "xapp-1"}, ["SLACK_BOT_TOKEN"]),
        ({"TELEGRAM_WEBHOOK_SECRET": "s" * 32}, ["TELEGRAM_BOT_TOKEN"]),
        (
            {
                "TELEGRAM_BOT_TOKEN": "1:x",
                "TELEGRAM_WEBHOOK_URL": "https://x.example/tg",
                "COO_OPERATORS": "telegram:1",
            },
            ["TELEGRAM_WEBHOOK_SECRET"],
        ),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s" * 32}, ["COO_OPERATORS"]),
    ],
)
@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_half_configured_channel_refuses_to_start_with_what_to_set(
    command: str, env: dict[str, str], named: list[str]
):
    # `coo run` would otherwise serve a 404 on /slack/events, or silently skip the console
    line = one_line_error(coo(command, **env), 2)
    assert all(name in line for name in named), line
    assert "set" in line


def test_replay_of_an_unknown_run_and_replay_from_plan_say_something():
    done = coo("replay", "run_nope")
    assert "no run run_nope" in one_line_error(done, 1)
    chat = coo("chat", input="expense 3 pens\napprove\n")
    assert chat.returncode == 0 and "Done: Recorded expense" in chat.stdout, chat.stderr[-2000:]
    runs = coo("runs")
    run_id = runs.stdout.split()[0]
    assert run_id.startswith("run"), runs.stdout
    replay = coo("replay", run_id, "--from", "plan")
    assert replay.returncode == 0, replay.stderr[-2000:]
    # the effect is not repeated, and the replay says so rather than printing nothing
    assert replay.stdout.startswith(f"Replayed run {run_id} from plan: nothing new"), replay.stdout
    wrong = coo("replay", run_id, "--from", "planning")
    assert wrong.returncode == 2 and "invalid choice: 'planning'" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_a_closed_pipe_is_not_a_traceback():
    # `coo slack-manifest | head`: the reader goes away before coo has written everything
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "slack-manifest", "--socket-mode"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the child (still importing) writes a byte
        err = proc.stderr.read()
        assert proc.wait(TIMEOUT) == 0
    assert err == ""


def test_ctrl_c_in_the_console_is_one_line(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    answered = threading.Event()
    out: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("Balance:"):
                answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc.stdin.write("balance\n")
    proc.stdin.flush()
    assert answered.wait(TIMEOUT), "".join(out)
    # Given a console waiting for its next line, when the user presses Ctrl-C...
    proc.send_signal(signal.SIGINT)
    assert proc.wait(TIMEOUT) == 130
    err = proc.stderr.read()
    proc.stdin.close()
    reader.join(TIMEOUT)
    proc.stdout.close()
    proc.stderr.close()
    # ...it leaves with one line, no traceback.
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "coo: interrupted; unfinished work resumes at the next start" in err


def test_the_default_data_dir_is_the_users_whatever_the_folder(tmp_path: Path):
    share = tmp_path / "share"
    first, second = tmp_path / "here", tmp_path / "elsewhere"
    first.mkdir()
    second.mkdir()
    env = {"XDG_DATA_HOME": str(share)}
    no_data_dir = {k: v for k, v in os.environ.items() if k != "COO_DATA_DIR"}
    # Given an expense recorded from one folder...
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input="expense 5 stamps\napprove\n",
        capture_output=True,
        text=True,
        env={**no_data_dir, **env},
        cwd=first,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"coo: data in {share / 'coo'} (COO_DATA_DIR)" in done.stderr
    # ...coo started from another folder finds the same books.
    again = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input="balance\n",
        capture_output=True,
        text=True,
        env={**no_data_dir, **env},
        cwd=second,
        timeout=TIMEOUT,
    )
    assert "Balance: -$5.00." in again.stdout, again.stderr[-2000:]
    assert not (first / "data").exists() and not (second / "data").exists()
    doctor = subprocess.run(
        [sys.executable, "-m", "bot.cli", "doctor"],
        capture_output=True,
        text=True,
        env={**no_data_dir, **env},
        cwd=second,
        timeout=TIMEOUT,
    )
    assert f"ok   data: {share / 'coo'} (COO_DATA_DIR)" in doctor.stdout


HEAVY = ("langgraph", "langchain_core", "langchain_openai", "openai", "faiss", "numpy", "dramatiq", "rich")


def loaded_after(argv: list[str]) -> set[str]:
    """Return the top-level packages a `coo` command imported (it runs in a child process)."""
    script = (
        "import sys\nfrom bot.cli import main\n"
        f"code = main({argv!r})\n"
        "print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ), timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split("MODULES", 1)[1].split())


def test_help_and_runs_import_nothing_heavy():
    # `coo --help` exits inside argparse: check what importing the CLI and building its parser loads
    script = "import sys\nimport bot.cli\nbot.cli.build_parser()\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT)
    modules = {m.split(".")[0] for m in done.stdout.split()}
    assert not modules & {*HEAVY, "sqlalchemy", "sqlmodel", "pydantic", "pydantic_settings", "alembic"}
    assert not loaded_after(["runs"]) & set(HEAVY)
    # once the schema is at the newest revision, a start does not even load Alembic
    assert not loaded_after(["runs"]) & {*HEAVY, "alembic"}


def test_an_unexpected_error_is_one_line_and_v_shows_the_traceback(tmp_path: Path):
    data = tmp_path / "data"
    assert coo("runs", COO_DATA_DIR=str(data)).returncode == 0
    with sqlite3.connect(data / "coo.sqlite") as db:  # a bug's stand-in: a table gone from under coo
        db.execute("DROP TABLE run")
    line = one_line_error(coo("runs", COO_DATA_DIR=str(data)), 1)
    assert line.startswith("coo: unexpected error: OperationalError: ") and "no such table: run" in line
    assert line.endswith("(run again with -v for the traceback)")
    verbose = coo("runs", "-v", COO_DATA_DIR=str(data))
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_books_left_in_the_old_data_folder_are_pointed_out(tmp_path: Path):
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "coo.sqlite").close()
    env = {k: v for k, v in os.environ.items() if k != "COO_DATA_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input="quit\n",
        capture_output=True,
        text=True,
        env={**env, "XDG_DATA_HOME": str(tmp_path / "share")},
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"coo: {tmp_path / 'data' / 'coo.sqlite'} holds books from an older coo" in done.stderr
    assert "set COO_DATA_DIR=./data" in done.stderr


def test_trust_prints_each_kinds_numbers_from_the_database_alone():
    empty = coo("trust")
    assert empty.returncode == 0 and "every change asks first" in empty.stdout, empty.stderr[-2000:]
    chat = coo("chat", input="expense 3 pens\napprove\nexpense 4 ink\nreject\ntrust\n")
    assert chat.returncode == 0 and "bookkeeping.record_expense: ask · 1 approved" in chat.stdout, chat.stderr[-2000:]
    shown = coo("trust")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "bookkeeping.record_expense: ask · 1 approved, 0% overridden (0 edited), 1 rejected" in shown.stdout
    assert "disagreements: not wanted 1" in shown.stdout
