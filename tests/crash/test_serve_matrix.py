"""The process-level crash matrix: real `coo serve` processes (Slack over HTTP against the loopback fake
Slack Web API) take a signed message, an approve click and an undo click, and are killed with SIGKILL at
one point of that path (``COO_TEST_CRASH_AT``, graph/faults.py). On SQLite the same process is started
again on the same data; on PostgreSQL a second `coo serve` that shares the database takes over alone.
What Slack would send again is sent again: an event never answered 200 is retried with its event_id; a
click never answered is clicked again by the operator. Every cell reports effects lost, effects doubled,
replies lost and replies duplicated: the first three must be 0; duplicates only where a post was cut off
between Slack's answer and its record (``after_send``)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bot.slack.harness import block_actions, dm_event
from tests.fakes.server import serve, wait_for
from tests.fakes.slack_api import FakeSlack
from tests.scale.procs import base_env, free_port, signed, up
from tests.services import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]
TAKEOVER_S = 2.0  # COO_CLAIM_LEASE_S in these processes: a dead claim is taken over within this

# (fault point, nth time it is reached, duplicates allowed): the seven points, and the outbox's own.
CELLS = [
    ("after_inbox_write", 1, 0),  # the event is recorded, the 200 never sent: Slack retries it
    ("after_claim", 1, 0),  # the event is claimed, the engine has not seen it
    ("before_post", 1, 0),  # inside the engine's answer: the card is owed, not posted
    ("after_send", 1, 1),  # the card is posted, its reference not stored: posted again (unavoidable)
    ("after_approval_recorded", 1, 0),  # the approve click is recorded, nothing executed
    ("after_commit", 1, 0),  # the effect is committed, Done not posted
    ("before_post", 2, 0),  # Done is owed, not posted
    ("during_undo", 1, 0),  # the compensation runs, not committed
    ("after_undo_commit", 1, 0),  # the compensation is committed, nothing told
]
RESULTS: list[dict[str, Any]] = []


class Cluster:
    """`coo serve` processes on one database; the first one carries the fault."""

    def __init__(
        self,
        stack: ExitStack,
        tmp: Path,
        db: str | None,
        fake: FakeSlack,
        fake_url: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.stack, self.tmp, self.db, self.fake, self.fake_url = stack, tmp, db, fake, fake_url
        self.env = env or {}  # given to every process (e.g. COO_ENGINE_PROCESS)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        self.killed_at: float | None = None
        stack.callback(self.stop)

    def start(self, crash_at: str | None = None, data: str = "p0", **more: str) -> int:
        port = free_port()
        extra = {
            "COO_CLAIM_LEASE_S": str(TAKEOVER_S),
            "PORT": str(port),
            "COO_DIGEST_TIME": "23:59",
            **self.env,
            **more,
        }
        if crash_at:
            extra["COO_TEST_CRASH_AT"] = crash_at
        env = base_env(self.db or "", self.fake_url, self.fake.token, self.tmp / data, **extra)
        if self.db is None:
            env.pop("DATABASE_URL")
        log = self.stack.enter_context(open(self.tmp / f"{data}-{len(self.procs)}.log", "w"))  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=log, stderr=log, cwd=ROOT
        )
        self.procs.append(proc)
        self.urls.append(f"http://127.0.0.1:{port}")
        i = len(self.procs) - 1
        wait_for(
            lambda: up(self.urls[i]) or proc.poll() is not None, timeout=90, interval=0.05, what="coo serve"
        )
        assert proc.poll() is None, (self.tmp / f"{data}-{i}.log").read_text()[-3000:]
        return i

    @property
    def live(self) -> int:
        """The process requests go to: the one with the fault while it lives, then the survivor."""
        return min(i for i, p in enumerate(self.procs) if p.poll() is None)

    def died(self) -> bool:
        return self.procs[0].poll() is not None

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    def post(self, path: str, body: str, content_type: str = "application/json") -> int | None:
        headers = signed(body) | {"content-type": content_type}
        try:
            return httpx.post(
                f"{self.urls[self.live]}{path}", content=body, headers=headers, timeout=30
            ).status_code
        except httpx.HTTPError:
            return None  # the process died with the request: Slack saw no answer


def posts(fake: FakeSlack) -> list[dict[str, Any]]:
    return fake.to("chat.postMessage")


def texts(fake: FakeSlack) -> list[str]:
    """What was posted and what posted messages were changed to, in order."""
    return [
        c.params.get("text", "") for c in list(fake.calls) if c.method in ("chat.postMessage", "chat.update")
    ]


def button(fake: FakeSlack, action: str) -> tuple[dict[str, Any], str] | None:
    """The newest posted message with this button, and the button's value."""
    for msg in reversed(list(fake.messages.values())):
        for block in msg.get("blocks") or []:
            for el in block.get("elements") or []:
                if el.get("action_id") == action:
                    return msg, el["value"]
    return None


def query(db: str | None, tmp: Path, sql: str) -> list[tuple[Any, ...]]:
    if db is None:
        with sqlite3.connect(tmp / "p0" / "coo.sqlite") as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(db) as conn:
        return conn.execute(sql).fetchall()


def run_cell(
    tmp: Path, db: str | None, point: str, nth: int, env: dict[str, str] | None = None, **faulty_env: str
) -> dict[str, Any]:
    fake = FakeSlack()
    with ExitStack() as stack:
        fake_url = stack.enter_context(serve(fake.app()))
        c = Cluster(stack, tmp, db, fake, fake_url, env)
        c.start(f"{point}@{nth}", **faulty_env)
        if db is not None:
            c.start(data="p1")  # the peer sharing PostgreSQL: it takes over alone
        takeover: list[float] = []

        def step(send: Callable[[], int | None], done: Callable[[], bool], what: str) -> None:
            status = send()
            if c.killed_at is not None:  # the kill happened before: the survivor does the rest
                wait_for(done, timeout=30, interval=0.02, what=what)
                return
            wait_for(lambda: done() or c.died(), timeout=30, interval=0.02, what=what)
            if not c.died():
                return
            c.killed_at = time.monotonic()  # the kill (os SIGKILL at the fault point) just happened
            if db is None:
                c.start()  # the same data, no fault: a restart after a host crash
            if status != 200:
                send()  # Slack retries an unanswered event; the operator clicks again
            wait_for(done, timeout=30, interval=0.02, what=f"{what} after the kill")
            takeover.append(time.monotonic() - c.killed_at)

        event = json.dumps(dm_event("expense 12.50 coffee", event_id="EvCrash1"))
        step(lambda: c.post("/slack/events", event), lambda: button(fake, "approve") is not None, "the card")
        card = button(fake, "approve")
        assert card is not None

        def click(action: str, found: tuple[dict[str, Any], str]) -> Callable[[], int | None]:
            def send() -> int | None:
                from urllib.parse import urlencode

                payload = json.dumps(block_actions(action, found[1], message=found[0]))
                return c.post(
                    "/slack/events", urlencode({"payload": payload}), "application/x-www-form-urlencoded"
                )

            return send

        def done_posted() -> bool:
            return (
                any(t.startswith(("Done:", "Already done:")) for t in texts(fake))
                and button(fake, "undo") is not None
            )

        step(click("approve", card), done_posted, "Done with Undo")
        undo = button(fake, "undo")
        assert undo is not None

        def undone() -> bool:
            return any(t.startswith(("Undone:", "Already undone")) for t in texts(fake))

        step(click("undo", undo), undone, "Undone")
        # Settle: whatever a sweep still owes is posted before the counts are taken.
        wait_for(
            lambda: (
                query(db, tmp, "SELECT count(*) FROM outboxitem WHERE status = 'pending'")[0][0] == 0
                and query(
                    db, tmp, "SELECT count(*) FROM inboxitem WHERE status IN ('received', 'processing')"
                )[0][0]
                == 0
            ),
            timeout=30,
            interval=0.05,
            what="nothing owed or unfinished",
        )
        assert c.died(), f"the fault {point}@{nth} was never reached"
        kinds = [r[0] for r in query(db, tmp, "SELECT kind FROM ledgerentry")]
        effects = [
            r[0] for r in query(db, tmp, "SELECT kind FROM event WHERE kind IN ('effect', 'compensation')")
        ]
        all_texts = texts(fake)
        # Posts are counted (a post twice is a duplicate the operator sees); the undo edits the Done
        # message in place (an edit made twice shows once) or, cut off after its commit, is told anew.
        cards = [p for p in posts(fake) if '"approve"' in json.dumps(p.get("blocks") or [])]
        dones = [p for p in posts(fake) if p.get("text", "").startswith(("Done:", "Already done:"))]
        undone = any(t.startswith(("Undone:", "Already undone")) for t in all_texts)
        undo_posts = [p for p in posts(fake) if p.get("text", "").startswith(("Undone:", "Already undone"))]
        expected = {"card": 1, "done": 1, "undone": 1}
        got = {"card": len(cards), "done": len(dones), "undone": max(int(undone), len(undo_posts))}
        return {
            "backend": "postgres" if db else "sqlite",
            "point": f"{point}@{nth}",
            "effects_lost": int("expense" not in kinds) + int("compensation" not in effects),
            "effects_doubled": max(0, kinds.count("expense") - 1)
            + max(0, kinds.count("reversal") - 1)
            + max(0, effects.count("effect") - 1)
            + max(0, effects.count("compensation") - 1),
            "replies_lost": sum(max(0, expected[k] - got[k]) for k in expected),
            "replies_duplicated": sum(max(0, got[k] - expected[k]) for k in expected),
            "takeover_s": round(takeover[0], 2) if takeover else None,
            "texts": all_texts,
        }


@pytest.mark.parametrize(("point", "nth", "dups"), CELLS, ids=[f"{p}@{n}" for p, n, _ in CELLS])
def test_kill_serve_at_each_point(point: str, nth: int, dups: int, tmp_path: Path, database_url: str | None):
    row = run_cell(tmp_path, database_url, point, nth)
    RESULTS.append(row)
    print(json.dumps({k: v for k, v in row.items() if k != "texts"}))
    if os.environ.get("MATRIX_OUT"):  # where a run writes its table (the closing note)
        with open(os.environ["MATRIX_OUT"], "a") as f:
            f.write(json.dumps({k: v for k, v in row.items() if k != "texts"}) + "\n")
    assert (row["effects_lost"], row["effects_doubled"], row["replies_lost"]) == (0, 0, 0), row["texts"]
    assert row["replies_duplicated"] <= dups, row


@pytest.mark.postgres
@pytest.mark.parametrize("point", ["after_claim", "after_approval_recorded"])
def test_a_peer_on_another_host_takes_over_on_the_lease_alone(point: str, tmp_path: Path):
    # The killed process says it runs on another host: its pid tells the survivor nothing, the lease must.
    with fresh_postgres_database() as db:
        row = run_cell(tmp_path, db, point, 1, COO_TEST_OWNER_HOST="another-host")
    print(json.dumps({k: v for k, v in row.items() if k != "texts"}))
    if os.environ.get("MATRIX_OUT"):
        with open(os.environ["MATRIX_OUT"], "a") as f:
            f.write(json.dumps({k: v for k, v in row.items() if k != "texts"} | {"lease_only": True}) + "\n")
    assert (row["effects_lost"], row["effects_doubled"], row["replies_lost"], row["replies_duplicated"]) == (
        0,
        0,
        0,
        0,
    ), row["texts"]
    # Never before the lease (3/4 of COO_CLAIM_LEASE_S, less one renewal) could have run out: the
    # survivor learned of the death from the lease alone. How soon after is a figure, not a test (it
    # depends on the machine's load): the run writes it to MATRIX_OUT, and the steps' waits bound it.
    assert row["takeover_s"] is not None and row["takeover_s"] >= TAKEOVER_S * 0.5, row
