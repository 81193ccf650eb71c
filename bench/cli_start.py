"""How fast `coo` starts: `coo --help` and `coo runs` against `python -c pass`, measured in one run.

Each command runs N times in a fresh process (on a temporary data dir whose database already exists);
the medians of wall time and of the child's CPU time (user + system) are printed with their ratio to
the bare interpreter's, then the slowest imports of `coo runs` from `python -X importtime`.
Goal (issue 16): each command at 1 s or less.

Run: .venv/bin/python bench/cli_start.py [--n 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a command once; return its wall time and the CPU time it used (children's rusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(argv: list[str], env: dict[str, str], n: int) -> tuple[float, float]:
    runs = [timed(argv, env) for _ in range(n)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def slowest_imports(argv: list[str], env: dict[str, str], top: int) -> list[tuple[float, str]]:
    """Return the top-level imports with the largest cumulative time (s) under ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv[1:]], env=env, cwd=ROOT, capture_output=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if len(name) - len(name.lstrip()) == 1:  # top-level imports only (nested ones are indented)
            rows.append((int(cumulative) / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COO_", "SLACK_", "TELEGRAM_"))}
        env.pop("DATABASE_URL", None)
        env.update(COO_DATA_DIR=str(Path(tmp) / "data"), PYTHONPATH=str(ROOT))
        coo = [sys.executable, "-m", "bot.cli"]
        subprocess.run([*coo, "runs"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # the schema
        base_wall, base_cpu = measure([sys.executable, "-c", "pass"], env, args.n)
        print(f"python -c pass   wall {base_wall:6.3f} s   cpu {base_cpu:6.3f} s")
        for name, argv in (("coo --help", [*coo, "--help"]), ("coo runs", [*coo, "runs"])):
            wall, cpu = measure(argv, env, args.n)
            print(
                f"{name:15}  wall {wall:6.3f} s   cpu {cpu:6.3f} s   "
                f"ratio to python -c pass: wall {wall / base_wall:5.1f}x  cpu {cpu / max(base_cpu, 1e-3):5.1f}x"
                f"   goal <= 1 s: {'met' if wall <= 1.0 else 'MISSED'}"
            )
        print("slowest top-level imports of `coo runs` (python -X importtime, cumulative):")
        for seconds, module in slowest_imports([*coo, "runs"], env, 8):
            print(f"  {seconds:6.3f} s  {module}")


if __name__ == "__main__":
    main()
