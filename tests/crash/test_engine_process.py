"""`coo serve` with COO_ENGINE_PROCESS: Slack's engine work runs in a process of its own, the web
process only records and acknowledges; the two share their fate as one process would (either one
killed, the other exits), and the restart answers what was left exactly once."""

from __future__ import annotations

import json
import os
import signal
from contextlib import ExitStack
from pathlib import Path

from bot.engine_process import DIED
from tests.bot.slack.harness import dm_event
from tests.crash.test_serve_matrix import Cluster, posts, query
from tests.fakes.server import serve, wait_for
from tests.fakes.slack_api import FakeSlack


def engine_of(pid: int) -> int:
    """Return the pid of a web process's engine process (a multiprocessing spawn child)."""
    found = []
    kids = [c for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    for child in kids:
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in cmdline:
            found.append(int(child))
    assert len(found) == 1, found
    return found[0]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_engine_process_answers_and_shares_the_web_process_fate(tmp_path: Path):
    fake = FakeSlack()
    with ExitStack() as stack:
        fake_url = stack.enter_context(serve(fake.app()))
        c = Cluster(stack, tmp_path, None, fake, fake_url, {"COO_ENGINE_PROCESS": "1"})
        c.start()
        # Given `coo serve` with an engine process, a message is answered, once
        first = dm_event("balance")
        assert c.post("/slack/events", json.dumps(first)) == 200
        wait_for(lambda: len(posts(fake)) == 1, timeout=60, what="the first reply")
        # and recorded as sent (a kill between Slack's answer and that record posts it again on restart,
        # the one window no platform without idempotency keys closes: test_serve_matrix's after_send)
        wait_for(
            lambda: query(None, tmp_path, "SELECT count(*) FROM outboxitem WHERE status = 'pending'")[0][0] == 0,
            timeout=60,
            what="the reply recorded as sent",
        )
        web = c.procs[0]
        engine = engine_of(web.pid)

        # When the engine process is killed, the web process exits too (a supervisor restarts both)
        os.kill(engine, signal.SIGKILL)
        wait_for(c.died, timeout=30, what="coo serve to exit")
        assert web.returncode == DIED

        # Then a restart on the same data answers new messages, and the first is not answered again
        i = c.start()
        second = dm_event("balance")
        assert c.post("/slack/events", json.dumps(second)) == 200
        wait_for(lambda: len(posts(fake)) == 2, timeout=60, what="the second reply")
        assert [p["thread_ts"] for p in posts(fake)] == [first["event"]["ts"], second["event"]["ts"]]

        # When the web process is killed, its engine process exits too
        engine = engine_of(c.procs[i].pid)
        c.procs[i].kill()
        wait_for(lambda: gone(engine), timeout=30, what="the engine process to exit")
