"""The `coo` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bot.app import App, secret_values
from bot.logs import setup_logging
from bot.runs_view import runs_text, trace_text
from bot.settings import Settings
from bot.telemetry import setup_tracing
from memory.redact import Redactor


def cmd_chat(settings: Settings, _args: argparse.Namespace) -> int:
    """Chat in the terminal."""
    from bot.console import run_console

    with App(settings) as app:
        if app.embedded_jobs:
            app.start_workers()
        return run_console(app)


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    """Run the HTTP server with every configured channel."""
    from bot.server import serve
    from graph.faults import Faults

    with App(settings, faults=Faults.from_env()) as app:  # faults: crash tests only (tests/crash)
        if app.embedded_jobs:
            app.start_workers()
        serve(app)
    return 0


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    """Run job workers (Dramatiq), the relay and the digest scheduler until stopped."""
    from bot.worker import run_worker

    return run_worker(settings)


def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    """Send the digest now (the schedule is COO_DIGEST_TIME; `coo worker` or `coo run` keeps it)."""
    if not args.now:
        print("the digest goes out daily at COO_DIGEST_TIME; `coo digest --now` sends one at once")
        return 2
    from bot.worker import digest_now

    return digest_now(settings)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run everything configured; with no channel credentials, the console."""
    if settings.slack_bot_token or settings.telegram_bot_token:
        return cmd_serve(settings, args)
    return cmd_chat(settings, args)


def cmd_runs(settings: Settings, args: argparse.Namespace) -> int:
    """List recent runs."""
    with App(settings) as app:
        print(runs_text(app, args.limit))
    return 0


def cmd_trace(settings: Settings, args: argparse.Namespace) -> int:
    """Print a run as a timeline."""
    with App(settings) as app:
        text = trace_text(app, args.run)
    if text is None:
        print(f"no run {args.run}", file=sys.stderr)
        return 1
    print(text)
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Re-run a run from a checkpoint; effects already done are not repeated."""
    from bot.console import format_reply
    from bot.render import render_all

    with App(settings) as app:
        outs = app.engine.replay(args.run, args.from_step)
        for reply in render_all(outs):
            print(format_reply(reply))
    return 0


def cmd_doctor(settings: Settings, _args: argparse.Namespace) -> int:
    """Check settings, database, broker, model endpoint and channel tokens."""
    from bot.doctor import report, run_checks

    checks = run_checks(settings)
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_slack_manifest(_settings: Settings, args: argparse.Namespace) -> int:
    """Print the Slack app manifest (JSON) to paste when creating the app."""
    from bot.slack.manifest import manifest

    try:
        print(json.dumps(manifest(args.url, name=args.name, socket_mode=args.socket_mode), indent=2))
    except ValueError as exc:
        print(f"coo slack-manifest: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    """Bring the database schema to the newest revision (it also happens on every start)."""
    from memory import migrate
    from memory.db import make_engine

    engine = make_engine(settings.database())
    try:
        print(f"schema at revision {migrate.upgrade(engine)} (newest: {migrate.head()})")
    finally:
        engine.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser."""
    p = argparse.ArgumentParser(prog="coo", description="coo: the AI COO for one-person companies")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO to stderr")
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
    trace = sub.add_parser("trace", help="show one run as a timeline")
    trace.add_argument("run")
    trace.set_defaults(func=cmd_trace)
    sub.add_parser("migrate", help="apply schema migrations (Alembic)").set_defaults(func=cmd_migrate)
    sub.add_parser("doctor", help="check the configuration and say what to fix").set_defaults(func=cmd_doctor)
    sub.add_parser("worker", help="run job workers, the relay and the digest scheduler").set_defaults(
        func=cmd_worker
    )
    digest = sub.add_parser("digest", help="send the daily digest (--now: at once)")
    digest.add_argument("--now", action="store_true", help="build and send one digest now")
    digest.set_defaults(func=cmd_digest)
    replay = sub.add_parser("replay", help="re-run a run from a checkpoint (done effects are not repeated)")
    replay.add_argument("run")
    replay.add_argument(
        "--from", dest="from_step", help="node to start again before: plan, policy, approve, execute"
    )
    replay.set_defaults(func=cmd_replay)
    slack = sub.add_parser("slack-manifest", help="print the Slack app manifest to create the app from")
    slack.add_argument("--url", help="public https base URL of `coo serve` (events go to <url>/slack/events)")
    slack.add_argument(
        "--socket-mode", action="store_true", help="Socket Mode (SLACK_APP_TOKEN), no public URL"
    )
    slack.add_argument("--name", default="coo", help="app and bot name")
    slack.set_defaults(func=cmd_slack_manifest)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `coo` console script."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    setup_logging(Redactor(secret_values(settings)), verbose=args.verbose)
    provider = setup_tracing(settings)
    try:
        return int(args.func(settings, args) or 0)
    finally:
        if provider is not None:
            provider.shutdown()


if __name__ == "__main__":
    sys.exit(main())
