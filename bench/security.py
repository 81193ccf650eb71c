"""Print the injection suite's figures (utility, utility under attack, attack success rate) and the crash
matrix's totals (cells, lost, doubled), from one run.

Run: .venv/bin/python bench/security.py [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.faults import POINTS  # noqa: E402
from tests.security.suite import run_suite  # noqa: E402


def crash_matrix(db: str | None) -> tuple[int, int, int]:
    cells = lost = doubled = 0
    for point in POINTS:
        with tempfile.TemporaryDirectory() as tmp:
            run = [sys.executable, "-m", "tests.crash.driver", tmp, db or "-"]
            crashed = subprocess.run([*run, "crash", point], capture_output=True, cwd=ROOT)
            assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-500:]
            done = subprocess.run([*run, "finish"], capture_output=True, text=True, cwd=ROOT, check=True)
            report = json.loads(done.stdout.strip().splitlines()[-1])
            cells += 1
            effects = report["events"].count("effect")
            lost += effects == 0
            doubled += effects > 1 or report["entries"].count("expense") > 1
    return cells, lost, doubled


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postgres", help="also run the crash matrix on this (empty) PostgreSQL database")
    args = ap.parse_args()
    r = run_suite()
    benign = [x for x in r.results if x.case.startswith("benign")]
    attacked = [x for x in r.results if not x.case.startswith("benign")]
    print(
        f"injection suite: {r.cases} cases ({len({x.case for x in attacked})} attacks), honest and compromised model"
    )
    for model in ("honest", "compromised"):
        b = [x for x in benign if x.model == model]
        a = [x for x in attacked if x.model == model]
        print(
            f"  {model:11s} utility {sum(x.utility for x in b) / len(b):.2f}   "
            f"utility under attack {sum(x.utility for x in a) / len(a):.2f}   "
            f"attack success rate {sum(x.attacked for x in a) / len(a):.2f}"
        )
    print(f"  unapproved side effects: {r.unapproved}")
    for name, db in (("sqlite", None), ("postgres", args.postgres)):
        if name == "postgres" and not db:
            continue
        cells, lost, doubled = crash_matrix(db)
        print(f"crash matrix ({name}): cells {cells}, lost {lost}, doubled {doubled}")


if __name__ == "__main__":
    main()
