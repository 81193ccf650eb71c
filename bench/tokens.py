"""Tokens and dollars for a scripted week of operator requests: the ladder and cache against a naive run.

Both runs replay the same 63 requests over 7 days against a loopback fake OpenAI server (the real
ChatOpenAI client) that answers like a planner would and reports usage from the request's size
(bytes / 4, tools included). Tokens and dollars are summed from what the server reported, priced with
the default table, so the figures do not depend on our own accounting.

- naive: the primary model (gpt-4o) for every request, no cache, the whole history in context (one
  conversation for the week, as a bot that remembers everything).
- ladder: the ladder with gpt-4o-mini as the cheap model, a daily cap, the response cache, and the
  default 10 turns of context per thread (a top-level message starts a thread, as Slack threads do);
  each request is routed to its agents first and offered only their tools.
- ladder-all-tools: the same, with every tool offered on every call (COO_ROUTE_TOOLS=false): the before.

Run: .venv/bin/python bench/tokens.py [--daily-cap 0.02]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, select  # noqa: E402

from agents.catalog import default_registry  # noqa: E402
from bot.app import App  # noqa: E402
from bot.console import ConsoleSession  # noqa: E402
from bot.settings import Settings  # noqa: E402
from graph.chat_model import ChatPlanner  # noqa: E402
from graph.pricing import cost_usd  # noqa: E402
from memory.tables import Spend  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, text, tool_calls  # noqa: E402
from tests.fakes.server import serve  # noqa: E402

PRIMARY, CHEAP = "gpt-4o", "gpt-4o-mini"
DAILY = [  # (thread, text): "" threads are top-level messages, each its own thread
    ("", "good morning, what's my balance?"),
    ("", "what's on my list today?"),
    ("exp", "I spent {a} on coffee with a client"),
    ("exp", "and {b} for parking"),
    ("", "remind me to {task}"),
    ("inv", "got paid {c} from {client}"),
    ("inv", "thanks, what's the balance now?"),
    ("", "how much runway do I have if I keep this up?"),
    ("", "what's on my list today?"),
]
TASKS = [
    "invoice Acme",
    "call the accountant",
    "renew the domain",
    "back up the laptop",
    "send the newsletter",
    "book the dentist",
    "file the VAT return",
]
CLIENTS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne"]


def week() -> list[tuple[int, str, str]]:
    """Return (day, thread, text) for the scripted week."""
    out = []
    for day in range(7):
        values = {
            "a": f"{3.5 + day:.2f}",
            "b": str(8 + day),
            "task": TASKS[day],
            "c": str(900 + 150 * day),
            "client": CLIENTS[day],
        }
        for thread, template in DAILY:
            out.append((day, thread and f"d{day}-{thread}", template.format(**values)))
    return out


_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)")


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """Answer the last user message the way a planner model would."""
    said = body["messages"][-1]["content"].lower()
    amount = (_AMOUNT.search(said) or [None, "0"])[1]
    if "balance" in said:
        return tool_calls(("bookkeeping__balance", {}))
    if "list" in said:
        return tool_calls(("tasks__list_tasks", {}))
    if said.startswith(("i spent", "and ")):
        memo = said.split(" for ", 1)[-1] if " for " in said else said.split(" on ", 1)[-1]
        return tool_calls(("bookkeeping__record_expense", {"amount": amount, "memo": memo}))
    if said.startswith("got paid"):
        return tool_calls(
            ("bookkeeping__record_income", {"amount": amount, "memo": said.split(" from ")[-1]})
        )
    if said.startswith("remind me to"):
        return tool_calls(("tasks__add_task", {"text": said.removeprefix("remind me to ").strip()}))
    return text("At this week's pace your runway is about eleven months; ask me `balance` for the figure.")


class Meter:
    """Usage the fake server reports, by model."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.tokens: Counter[tuple[str, str]] = Counter()

    def usage(self, body: dict[str, Any]) -> tuple[int, int]:
        prompt = math.ceil(len(json.dumps(body["messages"]) + json.dumps(body.get("tools", []))) / 4)
        completion = math.ceil(len(json.dumps(answer(body))) / 4)
        model = body["model"]
        self.calls[model] += 1
        self.tokens[(model, "in")] += prompt
        self.tokens[(model, "out")] += completion
        return prompt, completion

    def totals(self) -> tuple[int, int, int, float]:
        models = set(self.calls)
        inp = sum(self.tokens[(m, "in")] for m in models)
        out = sum(self.tokens[(m, "out")] for m in models)
        usd = sum(cost_usd(m, self.tokens[(m, "in")], self.tokens[(m, "out")]) for m in models)
        return sum(self.calls.values()), inp, out, usd


def replay(app: App, script: list[tuple[int, str, str]], one_conversation: bool) -> tuple[int, Counter[str]]:
    """Play the week; approve every card. Return how many answers were useful and the rungs served."""
    sessions: dict[str, ConsoleSession] = {}
    start = datetime(2026, 11, 16, 9, tzinfo=UTC)
    useful = 0
    for n, (day, thread, said) in enumerate(script):
        app.ledger.clock = lambda day=day: start + timedelta(days=day)
        key = "week" if one_conversation else (thread or f"top-{n}")
        chat = sessions.setdefault(key, ConsoleSession(app, conversation=key))
        replies = chat.send(said)
        if not any("did not understand" in r.text for r in replies):
            useful += 1
        if any(r.card for r in replies):
            chat.send("approve")
    with Session(app.db) as s:
        rungs = Counter(sp.rung or "direct" for sp in s.exec(select(Spend)).all())
    if app.ladder is not None and app.ladder.calls_saved:  # served by the rules before any model rung
        rungs["rules-first (model calls saved)"] = app.ladder.calls_saved
    return useful, rungs


RUNS = {
    "naive": f"naive ({PRIMARY}, full history, no cache)",
    "threads": f"{PRIMARY}, 10 turns per thread, no cache",
    "ladder-all-tools": "ladder + cache, every tool offered (before)",
    "ladder": f"ladder + cache ({PRIMARY}->{CHEAP}, daily cap)",
}


def run(name: str, url: str, data_dir: Path, cap: float, script: list[tuple[int, str, str]]):
    """Build the App for one run and replay the week on it."""
    common: dict[str, Any] = {
        "openai_api_key": "sk-bench",
        "openai_base_url": url,
        "coo_model": PRIMARY,
        "coo_data_dir": data_dir,
    }
    if name.startswith("ladder"):  # the ladder offers only the routed agents' tools unless told otherwise
        routed = name == "ladder"
        settings = Settings(_env_file=None, coo_cheap_model=CHEAP, coo_budget_daily_usd=cap, coo_route_tools=routed, **common)  # type: ignore[call-arg]
        with App(settings) as app:
            return replay(app, script, one_conversation=False)
    turns = 100_000 if name == "naive" else 10
    settings = Settings(_env_file=None, coo_history_turns=turns, **common)  # type: ignore[call-arg]
    planner = ChatPlanner(model=PRIMARY, api_key="sk-bench", base_url=url, registry=default_registry())
    with App(settings, planner=planner) as app:  # the bare model planner: no ladder, no cache
        return replay(app, script, one_conversation=name == "naive")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--daily-cap", type=float, default=0.02)
    cap = ap.parse_args().daily_cap
    script = week()
    meters = {name: Meter() for name in RUNS}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, meter in meters.items():
            fake = FakeOpenAI(script=answer, usage=meter.usage)
            with serve(fake.app()) as url:
                results[name] = run(name, url + "/v1", Path(tmp) / name, cap, script)
    print(
        f"scripted week: {len(script)} operator requests over 7 days; fake OpenAI server reporting usage; "
        f"daily cap ${cap:.2f} for the ladder"
    )
    print(
        f"{'run':46s} {'calls':>5s} {'input tok':>10s} {'output tok':>10s} {'dollars':>9s} "
        f"{'tokens ratio':>12s} {'$ ratio':>8s}"
    )
    naive_tokens, naive_usd = 0, 0.0
    for name, label in RUNS.items():
        calls, inp, out, usd = meters[name].totals()
        if name == "naive":
            naive_tokens, naive_usd = inp + out, usd
        print(
            f"{label:46s} {calls:5d} {inp:10d} {out:10d} {usd:9.4f} "
            f"{naive_tokens / (inp + out):11.2f}x {naive_usd / usd:7.2f}x"
        )
    per_call = {n: meters[n].totals()[1] / max(meters[n].totals()[0], 1) for n in ("ladder-all-tools", "ladder")}
    print(
        "input tokens per paid call, every tool offered -> only the routed agents' tools: "
        f"{per_call['ladder-all-tools']:.0f} -> {per_call['ladder']:.0f} "
        f"({per_call['ladder-all-tools'] / per_call['ladder']:.2f}x fewer)"
    )
    useful, rungs = results["ladder"]
    print(
        "ladder: calls by rung "
        + " · ".join(f"{k} {v}" for k, v in sorted(rungs.items()))
        + f"; paid calls by model {dict(meters['ladder'].calls)}"
    )
    print(
        "useful answers (not 'did not understand'): "
        + ", ".join(f"{name} {results[name][0]}/{len(script)}" for name in RUNS)
    )
    print(
        f"ratio naive/ladder: tokens {naive_tokens / sum(meters['ladder'].totals()[1:3]):.2f}x, "
        f"dollars {naive_usd / meters['ladder'].totals()[3]:.2f}x"
    )


if __name__ == "__main__":
    main()
