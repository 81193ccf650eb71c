"""Slash commands, channel-neutral: each takes the App, the actor and the command's text, returns replies.

Every channel calls these (the console now; Slack's slash commands and Telegram's bot commands
likewise): ``handle(app, actor, "/budget set daily 2.50")``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from sqlalchemy.engine import Engine

from bot.app import App
from bot.chart import bar_chart_png, sparkline
from bot.jobs import chat_job, job_command
from bot.messages import Reply
from bot.playbooks import playbook_command
from bot.queues import waiting_lines  # jobs whose queue no live worker takes
from bot.runs_view import runs_text
from bot.trust_view import agent_line, trust
from graph.budget import Period
from graph.rules import HELP
from graph.spend_report import Line, daily_series, month_start, recent_run_costs, spend_by, total
from memory import inbox, outbox

log = logging.getLogger(__name__)

BUDGET_USAGE = (
    "Usage: /budget · /budget set daily <usd|off> · /budget set monthly <usd|off> "
    "· /budget set daily <usd|off> agent <name>"
)
_SET = re.compile(
    r"^set\s+(?P<period>daily|monthly)\s+(?P<amount>off|none|\$?\d+(?:\.\d+)?)(?:\s+agent\s+(?P<agent>[\w.-]+))?$",
    re.I,
)


def _usd(v: float | None, digits: int = 2) -> str:
    return "no cap" if v is None else f"${v:,.{digits}f}"


def _lines(lines: list[Line], limit: int = 4) -> str:
    if not lines:
        return "nothing"
    shown = [f"{x.name} ${x.usd:.4f} ({x.calls} call{'s' if x.calls != 1 else ''})" for x in lines[:limit]]
    return "; ".join(shown) + (f"; +{len(lines) - limit} more" if len(lines) > limit else "")


def budget(app: App, actor: str, args: str = "") -> list[Reply]:
    """Show spend against the caps, or change a cap (``set daily 2.50``; operators only)."""
    args = args.strip()
    if args:
        return [_set_budget(app, actor, args)]
    return [budget_report(app)]


def _set_budget(app: App, actor: str, args: str) -> Reply:
    m = _SET.match(args)
    if m is None:
        return Reply(text=BUDGET_USAGE)
    if not app.is_operator(actor):
        log.warning("budget change refused for %s: %r", actor, args)
        return Reply(text="Only an operator can change the budget. Nothing was changed.")
    period: Period = m["period"].lower()  # type: ignore[assignment]
    amount = m["amount"].lower()
    usd = None if amount in ("off", "none") else float(amount.lstrip("$"))
    agent = m["agent"]
    before = app.ledger.cap(period, agent)
    app.ledger.set_cap(period, usd, by=actor, agent=agent)
    log.info("%s set the %s budget%s to %s", actor, period, f" of {agent}" if agent else "", usd)
    whose = f"The {period} budget of agent {agent}" if agent else f"The {period} budget"
    return Reply(text=f"{whose} is now {_usd(usd)} (was {_usd(before)}).")


def budget_report(app: App) -> Reply:
    """Render /budget: today and this month against the caps, by agent, model and rung, and 30 days."""
    ledger, db = app.ledger, app.db
    today = ledger.today()
    first = month_start(today)
    held = ledger.counters()["day"][1]
    day_cap, month_cap = ledger.cap("daily"), ledger.cap("monthly")
    spent_day, spent_month = total(db, today, today), total(db, first, today)

    def against(spent: float, cap: float | None) -> str:
        if cap is None:
            return f"${spent:.4f} (no cap)"
        return f"${spent:.4f} of {_usd(cap)}" + (f" ({spent / cap:.0%})" if cap else "")

    lines = [
        f"Today ({today.isoformat()}): {against(spent_day, day_cap)}"
        + (f" · ${held:.4f} held for calls in flight" if held > 0 else ""),
        f"This month ({today:%Y-%m}): {against(spent_month, month_cap)}",
    ]
    if app.ladder is not None:
        now = app.ladder.now()
        lines.append(f"Ladder now: {now.rung} ({now.model})" + (f" · {now.reason}" if now.reason else ""))
    rungs = spend_by(db, "rung", today, today)
    lines += [
        f"Today by agent: {_lines(spend_by(db, 'agent', today, today))}",
        f"Today by model: {_lines(spend_by(db, 'model', today, today))}",
        "Today by rung: " + (" · ".join(f"{r.name or '-'} {r.calls}" for r in rungs) or "no calls"),
        f"This month by model: {_lines(spend_by(db, 'model', first, today))}",
    ]
    agent_caps = ledger.agent_caps()
    if agent_caps:
        caps = [f"{a} {p} {_usd(v)}" for a, per in sorted(agent_caps.items()) for p, v in sorted(per.items())]
        lines.append("Agent caps: " + "; ".join(caps))
    series = daily_series(db, today, 30)
    values = [v for _, v in series]
    top_day, top = max(series, key=lambda d: d[1])
    lines.append(
        f"Last 30 days: {sparkline(values)}" + (f" (max ${top:.4f} on {top_day:%m-%d})" if top > 0 else "")
    )
    png = bar_chart_png(
        values, cap=day_cap, first_label=f"{series[0][0]:%m-%d}", last_label=f"{series[-1][0]:%m-%d}"
    )
    return Reply(text="\n".join(lines), image=png, image_name=f"budget-{today.isoformat()}.png")


def deliveries_line(db: Engine) -> str:
    """Say what the inbox and the outbox hold: deliveries unfinished or waiting to be taken over, replies owed."""
    got, owed = inbox.backlog(db), outbox.backlog(db)
    return (
        f"Deliveries: {got['unfinished']} unfinished, {got['waiting_takeover']} waiting to be taken over; "
        f"replies owed: {owed['pending']} ({owed['retried']} tried before)"
    )


def status(app: App, actor: str, args: str = "") -> list[Reply]:
    """Show runs in flight, pending approvals, recent failures, the cost of recent runs and top spenders."""
    st = app.engine.status()
    lines = [
        f"Runs in flight: {st['running']}",
        f"Pending approvals: {st['pending_approvals']}",
        f"Recent failures: {len(st['recent_failures'])}",
    ]
    lines += [f"  {r.id} {r.error or ''} {r.input[:60]!r}" for r in st["recent_failures"]]
    if st["stuck"]:
        lines.append(f"Stuck runs: {len(st['stuck'])}")
        lines += [
            f"  {r.id} {why} since {r.created_at:%Y-%m-%d %H:%M} {r.input[:50]!r}" for r, why in st["stuck"]
        ]
    lines.append(deliveries_line(app.db))
    per_agent = agent_line(app.db, app.trust.limits)  # success and override rates (bot/trust_view.py)
    if per_agent:
        lines.append(per_agent)

    lines += waiting_lines(app)
    runs = recent_run_costs(app.db, 5)
    if runs:
        lines.append("Recent runs (cost, served by):")
        lines += [
            f"  {r.run_id} {r.status:7} ${r.usd:.4f} {'+'.join(r.rungs) or '-':8} {r.input[:50]!r}"
            for r in runs
        ]
    today = app.ledger.today()
    first = month_start(today)
    lines.append(f"Top spenders this month by agent: {_lines(spend_by(app.db, 'agent', first, today), 3)}")
    lines.append(f"Top spenders this month by model: {_lines(spend_by(app.db, 'model', first, today), 3)}")
    return [Reply(text="\n".join(lines))]


def runs(app: App, actor: str, args: str = "") -> list[Reply]:
    """List recent runs with status, cost and duration."""
    return [Reply(text=runs_text(app, 10))]


def login(app: App, actor: str, args: str = "") -> list[Reply]:
    """Send a one-time sign-in link to the web console (operators only)."""
    from bot.ui import login_reply

    return login_reply(app, actor, args)


def logout(app: App, actor: str, args: str = "") -> list[Reply]:
    """End every web console session of this operator (``/logout all``)."""
    from bot.ui import logout_reply

    return logout_reply(app, actor, args)


COMMANDS: dict[str, Callable[[App, str, str], list[Reply]]] = {
    "/budget": budget,
    "/status": status,
    "/runs": runs,
    "/trust": trust,
    "/login": login,
    "/logout": logout,
}


def handle(app: App, actor: str, text: str) -> list[Reply] | None:
    """Run a slash command; None when the text is not one of ours."""
    word, _, rest = text.strip().partition(" ")
    command = COMMANDS.get(word.lower())
    return command(app, actor, rest) if command else None


HELP_WORDS = {"help", "/help", "?", "/start"}
PRIVATE_ONLY = {"/login"}  # what answers with a secret (a sign-in link) is never posted where others read
NOT_HERE = (
    "I send sign-in links only in a private chat, since anyone here could use one: "
    "open a direct chat with me and send /login there."
)


def is_shared(conversation: str) -> bool:
    """Tell whether others may read a conversation: a Telegram group (negative chat id) or a Slack channel.

    The console and direct messages are private. (Slack's slash commands answer privately anyway.)
    """
    channel, _, rest = conversation.partition(":")
    chat = rest.split(":", 1)[0]
    if channel == "telegram":
        return chat.startswith("-")
    if channel == "slack":
        return not chat.startswith("D")
    return False


def command(
    app: App, conversation: str, actor: str, text: str, delivery: str | None = None
) -> list[Reply] | None:
    """Answer a command line the same way in every front door; None when it is not a command.

    ``help``, a job (``digest``, ``reindex``: its message is posted by the job, so no reply here) or a
    slash command (``/status``, ``/budget``, ``/runs``). Anything else is the engine's.
    """
    word = text.strip().split(" ", 1)[0].lower()
    if text.strip().lower() in HELP_WORDS or word in ("/help", "/start"):
        return [Reply(text=HELP)]
    if word in PRIVATE_ONLY and is_shared(conversation):
        return [Reply(text=NOT_HERE)]
    playbook = playbook_command(app, conversation, actor, text)  # `playbooks`, `playbook run …` (bot/playbooks.py)
    if playbook is not None:
        return playbook
    job = word if word.startswith("/") else text  # a slash command is its first word (`/digest@bot …`)
    if job_command(job) and chat_job(app, conversation, job, delivery) is not None:
        return []
    if word == "/trust":  # its card (``/trust set``) is posted in this conversation
        return trust(app, actor, text.strip().partition(" ")[2], conversation)
    return handle(app, actor, text)
