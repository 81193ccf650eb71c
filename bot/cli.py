"""The `coo` command line.

Only the standard library is imported at the top, so `coo --help` answers at once; each command imports
what it needs (`coo runs` opens the database alone, without building the App). Every error a user can
cause or fix ends as one line on stderr that says what to do, never a traceback:

- exit 2: the configuration is wrong or incomplete (settings, DATABASE_URL, COO_DATA_DIR, a channel);
- exit 1: the command failed (no such run, doctor found problems);
- exit 130: interrupted (Ctrl-C); unfinished work resumes at the next start.

Anything else is a bug: one line too, with the traceback in the log file (the console's) or with -v.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

STEPS = ("plan", "policy", "approve", "execute", "respond")


class CliError(Exception):
    """A one-line error for the user, with the exit code it ends with."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def say_where(settings: Settings) -> None:
    """Print where the data lives (stderr, so scripted stdout stays the chat)."""
    from memory.engines import where

    db = f"; database {where(settings.database_url)}" if settings.database_url else ""
    print(f"coo: data in {settings.coo_data_dir} (COO_DATA_DIR){db}", file=sys.stderr, flush=True)
    old = Path("data") / "coo.sqlite"  # where versions before the user data dir kept the books
    if "coo_data_dir" not in settings.model_fields_set and old.exists() and not settings.database_url:
        print(
            f"coo: {old.resolve()} holds books from an older coo, which kept them in ./data; "
            "to keep using them, set COO_DATA_DIR=./data (or move that folder's files to the path above)",
            file=sys.stderr,
            flush=True,
        )


def refuse_half_configured(settings: Settings) -> None:
    """Refuse to start when a channel is half set up, saying what to set (exit 2)."""
    problems = settings.channel_problems()
    if problems:
        raise CliError("\ncoo: ".join(problems), code=2)


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    """Chat in the terminal."""
    from bot.app import App
    from bot.console import run_console
    from bot.logs import setup_logging
    from bot.settings import secret_values
    from memory.engines import ensure_data_dir
    from memory.redact import Redactor

    say_where(settings)
    # Log lines never land inside the chat: they go to COO_DATA_DIR/coo.log (stderr with --verbose).
    log_file = ensure_data_dir(settings.coo_data_dir) / "coo.log"
    setup_logging(Redactor(secret_values(settings)), verbose=args.verbose, file=log_file)
    with App(settings) as app:
        if app.embedded_jobs:
            app.start_workers()
        return run_console(app, history=settings.coo_data_dir / "history")


def cmd_serve(settings: Settings, _args: argparse.Namespace, default_host: str = "0.0.0.0") -> int:
    """Run the HTTP server with every configured channel, on COO_HOST (else ``default_host``)."""
    from bot.app import App
    from bot.server import serve
    from bot.ui import mount as web_console
    from graph.faults import Faults

    refuse_half_configured(settings)
    say_where(settings)
    with App(settings, faults=Faults.from_env()) as app:  # faults: crash tests only (tests/crash)
        if app.embedded_jobs:
            app.start_workers()
        serve(app, default_host, extra=[web_console(app)])  # the web console under /ui
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run job workers (Dramatiq), the relay and the playbooks' scheduler (the digest too) until stopped."""
    from bot.worker import run_worker

    say_where(settings)
    if args.queues:  # `coo worker --queues local`: only those queues (COO_WORKER_QUEUES)
        settings = settings.model_copy(
            update={"coo_worker_queues": [q.strip() for q in args.queues.split(",")]}
        )
    return run_worker(settings)


def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    """Send the digest now (the schedule is COO_DIGEST_TIME; `coo worker` or `coo run` keeps it)."""
    if not args.now:
        raise CliError(
            "the digest goes out daily at COO_DIGEST_TIME; `coo digest --now` sends one at once", 2
        )
    from bot.worker import digest_now

    return digest_now(settings)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run everything configured; with no channel credentials, the console."""
    refuse_half_configured(settings)
    if settings.slack_bot_token or settings.telegram_bot_token:
        return cmd_serve(settings, args, default_host="127.0.0.1")  # a laptop: loopback unless COO_HOST
    return cmd_chat(settings, args)


@contextmanager
def database(settings: Settings) -> Iterator[SimpleNamespace]:
    """Open the workspace database alone (``.db``), for commands that only read it."""
    from memory.db import make_engine

    engine = make_engine(settings.database())
    try:
        yield SimpleNamespace(db=engine)
    finally:
        engine.dispose()


def cmd_runs(settings: Settings, args: argparse.Namespace) -> int:
    """List recent runs."""
    from bot.runs_view import runs_text

    with database(settings) as db:
        print(runs_text(db, args.limit))
    return 0


def cmd_trust(settings: Settings, _args: argparse.Namespace) -> int:
    """Print each action kind's trust level and numbers."""
    from bot.trust_view import trust_text
    from graph.trust_rules import HardLimits

    with database(settings) as opened:
        print(trust_text(opened.db, HardLimits(round(settings.coo_auto_amount_limit_usd * 100))))
    return 0


def cmd_trace(settings: Settings, args: argparse.Namespace) -> int:
    """Print a run as a timeline."""
    from bot.runs_view import trace_text

    if args.run.startswith("pbr_"):  # a playbook run: its steps, from its checkpoints
        from bot.app import App
        from bot.playbooks import service

        with App(settings) as app:
            print(service(app).runner.trace(args.run))
        return 0
    with database(settings) as db:
        text = trace_text(db, args.run)
    if text is None:
        raise CliError(f"no run {args.run}; `coo runs` lists the recent ones")
    print(text)
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Re-run a run from a checkpoint; effects already done are not repeated."""
    from sqlmodel import Session

    from bot.app import App
    from bot.console import format_reply
    from bot.render import render_all
    from memory.tables import Run

    if not args.run.startswith("pbr_") and args.from_step is not None and args.from_step not in STEPS:
        choices = ", ".join(repr(x) for x in STEPS)
        raise CliError(f"argument --from: invalid choice: {args.from_step!r} (choose from {choices})", code=2)
    with App(settings) as app:
        if args.run.startswith("pbr_"):  # a playbook run: --from names one of its steps
            from bot.playbooks import service

            for reply in render_all(service(app).runner.replay(args.run, args.from_step).outcomes):
                print(format_reply(reply))
            return 0
        with Session(app.db) as s:
            run = s.get(Run, args.run)
        if run is None:
            raise CliError(f"no run {args.run}; `coo runs` lists the recent ones")
        replies = render_all(app.engine.replay(args.run, args.from_step))
        for reply in replies:
            print(format_reply(reply))
        if not replies:
            where = f"from {args.from_step}" if args.from_step else "from its last checkpoint"
            print(
                f"Replayed run {args.run} {where}: nothing new to show (effects already done are not "
                f"repeated). `coo trace {args.run}` shows the run."
            )
    return 0


def cmd_doctor(settings: Settings, _args: argparse.Namespace) -> int:
    """Check settings, database, broker, model endpoint and channel tokens."""
    from bot.doctor import report, run_checks

    checks = run_checks(settings)
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_slack_manifest(_settings: Settings | None, args: argparse.Namespace) -> int:
    """Print the Slack app manifest (JSON) to paste when creating the app."""
    import json

    from bot.slack.manifest import manifest

    if not args.url and not args.socket_mode:
        raise CliError(
            "say how Slack reaches coo: `coo slack-manifest --url https://your.host` (HTTP mode, the URL "
            "of `coo serve`) or `coo slack-manifest --socket-mode` (no public URL, needs SLACK_APP_TOKEN)",
            2,
        )
    try:
        text = json.dumps(manifest(args.url, name=args.name, socket_mode=args.socket_mode), indent=2)
    except ValueError as exc:
        raise CliError(f"slack-manifest: {exc}", 2) from None
    print(text)
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    """Bring the database schema to the newest revision (it also happens on every start)."""
    from memory import migrate

    with database(settings) as db:
        print(f"schema at revision {migrate.upgrade(db.db)} (newest: {migrate.head()})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser."""
    p = argparse.ArgumentParser(prog="coo", description="coo: the AI COO for one-person companies")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log at INFO to stderr (the console: not to coo.log)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run everything configured (the console when no channel is)").set_defaults(
        func=cmd_run
    )
    sub.add_parser("chat", help="chat in the terminal").set_defaults(func=cmd_chat)
    sub.add_parser("serve", help="run the HTTP server (Slack, Telegram webhooks, /healthz)").set_defaults(
        func=cmd_serve
    )
    runs = sub.add_parser("runs", help="list recent runs")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(func=cmd_runs)
    sub.add_parser("trust", help="show each action kind's trust level and numbers").set_defaults(
        func=cmd_trust
    )
    trace = sub.add_parser("trace", help="show one run as a timeline")
    trace.add_argument("run")
    trace.set_defaults(func=cmd_trace)
    sub.add_parser("migrate", help="apply schema migrations (Alembic)").set_defaults(func=cmd_migrate)
    sub.add_parser("doctor", help="check the configuration and say what to fix").set_defaults(func=cmd_doctor)
    worker = sub.add_parser("worker", help="run job workers, the relay and the digest scheduler")
    worker.add_argument(
        "--queues", default="", help="take only these job queues (comma-separated), e.g. local"
    )
    worker.set_defaults(func=cmd_worker)
    digest = sub.add_parser("digest", help="send the daily digest (--now: at once)")
    digest.add_argument("--now", action="store_true", help="build and send one digest now")
    digest.set_defaults(func=cmd_digest)
    replay = sub.add_parser("replay", help="re-run a run from a checkpoint (done effects are not repeated)")
    replay.add_argument("run")
    replay.add_argument(
        "--from", dest="from_step", help=f"node to start again before ({', '.join(STEPS)}; a playbook run: a step id)"
    )
    replay.set_defaults(func=cmd_replay)
    slack = sub.add_parser("slack-manifest", help="print the Slack app manifest to create the app from")
    slack.add_argument("--url", help="public https base URL of `coo serve` (events go to <url>/slack/events)")
    slack.add_argument(
        "--socket-mode", action="store_true", help="Socket Mode (SLACK_APP_TOKEN), no public URL"
    )
    slack.add_argument("--name", default="coo", help="app and bot name")
    slack.set_defaults(func=cmd_slack_manifest, needs_settings=False)
    for (
        command
    ) in sub.choices.values():  # -v after the command too (`coo chat -v`); SUPPRESS keeps `coo -v chat`
        command.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="as coo -v"
        )
    return p


def load_settings() -> Settings:
    """Read the settings, or raise a one-line error naming each bad variable."""
    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        bad = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise CliError(f"bad setting: {bad}; fix it in the environment or .env", 2) from None


def _run(args: argparse.Namespace) -> int:
    if not getattr(args, "needs_settings", True):
        return int(args.func(None, args) or 0)
    from bot.logs import setup_logging
    from bot.settings import secret_values
    from bot.telemetry import setup_tracing
    from memory.redact import Redactor

    settings = load_settings()
    setup_logging(Redactor(secret_values(settings)), verbose=args.verbose)
    provider = setup_tracing(settings)
    try:
        return int(args.func(settings, args) or 0)
    finally:
        if provider is not None:
            provider.shutdown()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null after a closed pipe, so the interpreter's last flush fails silently."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `coo` console script."""
    from memory.errors import SetupError

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except CliError as exc:
        print(f"coo: {exc}", file=sys.stderr)
        return exc.code
    except SetupError as exc:
        print(f"coo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncoo: interrupted; unfinished work resumes at the next start", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `coo slack-manifest | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - the last resort: one line here, the traceback in the log or with -v
        if args.verbose:
            raise
        print(f"coo: unexpected error: {_unexpected(exc)}", file=sys.stderr)
        return 1


def _unexpected(exc: Exception) -> str:
    """Describe an unexpected error in one line, and say where its traceback is."""
    import logging

    what = " ".join(str(exc).split())[:200] or "(no message)"
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if files:
        logging.getLogger("coo").error("unexpected error", exc_info=exc)
        return f"{type(exc).__name__}: {what} (the traceback is in {files[0].baseFilename})"
    return f"{type(exc).__name__}: {what} (run again with -v for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
