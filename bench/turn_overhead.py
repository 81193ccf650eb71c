"""Median time of a full console turn (rule-based model) against a bare 3-node LangGraph graph on the same
checkpointer (SqliteSaver, durability "sync"), measured in one run. Prints the figures and their ratios.

Run: .venv/bin/python bench/turn_overhead.py [--n 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph.graph import END, START, StateGraph  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bot.app import App  # noqa: E402
from bot.console import ConsoleSession  # noqa: E402
from bot.settings import Settings  # noqa: E402
from graph.checkpointer import open_checkpointer  # noqa: E402


class S(TypedDict):
    n: int


def bare_graph(checkpointer):
    g = StateGraph(S)
    for name in ("a", "b", "c"):
        g.add_node(name, lambda s: {"n": s["n"] + 1})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    return g.compile(checkpointer=checkpointer)


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


@dataclass
class SqlCount:
    """Counts of pool checkouts, statements and commits on the app's database."""

    checkouts: int = 0
    statements: int = 0
    commits: int = 0

    def __iadd__(self, other: SqlCount) -> SqlCount:
        self.checkouts += other.checkouts
        self.statements += other.statements
        self.commits += other.commits
        return self


class SqlCounter:
    """Count what a turn asks of the app's database (not the checkpointer's own SQLite file)."""

    def __init__(self, engine) -> None:
        self.now = SqlCount()
        event.listen(engine, "checkout", lambda *a: self._bump("checkouts"))
        event.listen(engine, "before_cursor_execute", lambda *a: self._bump("statements"))
        event.listen(engine, "commit", lambda *a: self._bump("commits"))

    def _bump(self, field: str) -> None:
        setattr(self.now, field, getattr(self.now, field) + 1)

    def take(self) -> SqlCount:
        out, self.now = self.now, SqlCount()
        return out


def timed_turns(chat, sql: SqlCounter, line, expect: str, n: int) -> tuple[list[float], SqlCount]:
    """Time n console turns; fail loudly when a turn does not answer what the bench means to measure."""
    out, total = [], SqlCount()
    for i in range(n):
        sql.take()
        t0 = time.perf_counter()
        replies = chat.send(line(i))
        out.append(time.perf_counter() - t0)
        total += sql.take()
        if not any(r.text.startswith(expect) for r in replies):
            raise SystemExit(f"turn {line(i)!r} answered {[r.text for r in replies]}, not {expect!r}")
    return out, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    n = ap.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with open_checkpointer(None, data / "bare") as saver:
            g = bare_graph(saver)
            base = timed(
                lambda i: g.invoke({"n": 0}, {"configurable": {"thread_id": f"t{i}"}}, durability="sync"), n
            )
        # No trust offer: after COO_TRUST_STREAK approvals its card would make `approve` ask which card.
        settings = Settings(_env_file=None, coo_data_dir=data / "coo", coo_rate_per_minute=10**6, coo_trust_streak=0)  # type: ignore[call-arg]
        with App(settings) as app:
            chat = ConsoleSession(app)
            sql = SqlCounter(app.engine.db)
            read_turn, read_sql = timed_turns(chat, sql, lambda i: "balance", "Balance", n)
            # Each card is decided right after it is shown: with several cards waiting, "approve" asks which.
            ask_turn, approve_turn, ask_sql, approve_sql = [], [], SqlCount(), SqlCount()
            for i in range(n):
                t, c = timed_turns(chat, sql, lambda _i, i=i: f"expense {i + 1} bench", "Approve?", 1)
                ask_turn += t
                ask_sql += c
                t, c = timed_turns(chat, sql, lambda _i: "approve", "Done:", 1)
                approve_turn += t
                approve_sql += c
                # The outcome note's embedding is made after the reply, off the turn; finish it here,
                # untimed, as a person's pause before the next line would (else the next turn pays it).
                app.knowledge.embed_pending()
                sql.take()
    med = {
        k: statistics.median(v) * 1000
        for k, v in {"bare": base, "read": read_turn, "ask": ask_turn, "approve": approve_turn}.items()
    }
    print(f"turns: {n} each; checkpointer: SqliteSaver (sync durability) for both")
    print("(an approved run's outcome-note embedding is made after its reply, untimed, before the next turn)")
    print(f"bare 3-node graph          median {med['bare']:7.2f} ms   ratio 1.00")
    for k, label in (
        ("read", "console turn: balance"),
        ("ask", "console turn: expense→card"),
        ("approve", "console turn: approve→done"),
    ):
        print(f"{label:27s}median {med[k]:7.2f} ms   ratio {med[k] / med['bare']:.2f}")
    for label, c in (("balance", read_sql), ("expense→card", ask_sql), ("approve→done", approve_sql)):
        print(f"per turn, {label:13s} pool checkouts {c.checkouts / n:5.1f}  statements {c.statements / n:5.1f}"
              f"  commits {c.commits / n:5.1f}")


if __name__ == "__main__":
    main()
