"""Playbook overhead and scheduling accuracy, measured in one run.

1. A 10-step playbook that needs no approval (ten ``tasks.add_task`` steps, trusted to run) against the
   same ten actions called directly: each as an engine run with the action preset (what a playbook step
   does underneath), and each straight through the executor. Prints the medians and the ratios.
2. How late a slot fires: the scheduler ticks every ``COO_JOB_TICK_S`` (1 s), so a slot waits for the
   next tick (a uniform phase) and then for the claim's transaction. Measured per slot as phase + the
   tick's own time; prints p50 and p99 (and the tick's p99 alone).

Run: .venv/bin/python bench/playbooks.py [--n 30] [--slots 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import App  # noqa: E402
from bot.settings import Settings  # noqa: E402
from graph.playbooks.runner import PlaybookRunner  # noqa: E402
from graph.playbooks.schedule import PlaybookScheduler  # noqa: E402
from graph.policy import Policy  # noqa: E402
from graph.state import Preset  # noqa: E402
from memory import playbooks as store  # noqa: E402
from memory.tables import new_id  # noqa: E402

STEPS = 10
TEN = "name: ten\ntrigger: {manual: true}\nsteps:\n" + "".join(
    f"  - id: s{i}\n    op: tasks.add_task\n    args: {{text: \"step {i} of {{{{ run.id }}}}\"}}\n" for i in range(STEPS)
)
CONSOLE = "console:local"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--slots", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, coo_data_dir=Path(tmp) / "data")  # type: ignore[call-arg]
        with App(settings, policy=Policy(trust={"tasks.add_task": "auto"})) as app:
            runner = PlaybookRunner(app.engine, tz=ZoneInfo("UTC"))
            pb = runner.parse(TEN)
            eng = app.engine

            def playbook() -> None:
                rep = runner.run_now(pb, conversation="console:b", channel="console", deciders=[CONSOLE])
                assert rep.status == "done", rep.text

            def engine_runs() -> None:
                tag = new_id("d")
                for i in range(STEPS):
                    req = app.request("console", "console:b", CONSOLE, f"step {i} of {tag}")
                    req = type(req)(**{**req.__dict__, "preset": (Preset(key="tasks.add_task", arguments={"text": f"step {i} of {tag}"}),)})
                    eng.submit(req)

            def executor_calls() -> None:
                tag = new_id("x")
                for i in range(STEPS):
                    action = eng.registry.propose("tasks.add_task", {"text": f"step {i} of {tag}"}, run_id=tag, index=i)
                    eng.executor.execute(action, run_id=tag, conversation="console:b", actor=CONSOLE)

            times: dict[str, list[float]] = {"playbook": [], "engine runs": [], "executor": []}
            for fn in (playbook, engine_runs, executor_calls):
                fn()  # warm up
            for _ in range(args.n):
                for name, fn in (("playbook", playbook), ("engine runs", engine_runs), ("executor", executor_calls)):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"10-step playbook, no approval (median of {args.n}):")
            for k, v in med.items():
                print(f"  {k:12} {v * 1000:8.1f} ms")
            print(f"  ratio playbook / engine runs called directly: {med['playbook'] / med['engine runs']:.2f}x")
            print(f"  ratio playbook / executor called directly:    {med['playbook'] / med['executor']:.2f}x")

            # Scheduling accuracy: one every-minute playbook; each slot is claimed by the first tick after it.
            start = datetime(2027, 1, 4, tzinfo=UTC)
            store.save(app.db, "minutely", "name: minutely\ntrigger: {cron: \"* * * * *\"}\nsteps:\n  - id: a\n    message: hi\n", by="bench", now=start)
            tick_s = settings.coo_job_tick_s
            now = [start]
            sched = PlaybookScheduler(app.db, app.jobs, tz=ZoneInfo("UTC"), destination="console:b", clock=lambda: now[0])
            rng = random.Random(7)
            late, tick = [], []
            for k in range(1, args.slots + 1):
                phase = rng.uniform(0, tick_s)
                now[0] = start + timedelta(minutes=k, seconds=phase)
                t0 = time.perf_counter()
                claimed = sched.tick()
                took = time.perf_counter() - t0
                assert len(claimed) == 1, claimed
                tick.append(took)
                late.append(phase + took)
            print(f"Slot lateness over {args.slots} slots (tick every {tick_s:g} s):")
            print(f"  p50 {pct(late, 0.5) * 1000:.0f} ms, p99 {pct(late, 0.99) * 1000:.0f} ms (the tick's own time: p99 {pct(tick, 0.99) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
