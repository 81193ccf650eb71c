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
from pathlib import Path
from typing import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph.graph import END, START, StateGraph  # noqa: E402

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
        settings = Settings(_env_file=None, coo_data_dir=data / "coo", coo_rate_per_minute=10**6)  # type: ignore[call-arg]
        with App(settings) as app:
            chat = ConsoleSession(app)
            read_turn = timed(lambda i: chat.send("balance"), n)
            ask_turn = timed(lambda i: chat.send(f"expense {i + 1} bench"), n)
            approve_turn = timed(lambda i: chat.send("approve"), n)
    med = {
        k: statistics.median(v) * 1000
        for k, v in {"bare": base, "read": read_turn, "ask": ask_turn, "approve": approve_turn}.items()
    }
    print(f"turns: {n} each; checkpointer: SqliteSaver (sync durability) for both")
    print(f"bare 3-node graph          median {med['bare']:7.2f} ms   ratio 1.00")
    for k, label in (
        ("read", "console turn: balance"),
        ("ask", "console turn: expense→card"),
        ("approve", "console turn: approve→done"),
    ):
        print(f"{label:27s}median {med[k]:7.2f} ms   ratio {med[k] / med['bare']:.2f}")


if __name__ == "__main__":
    main()
