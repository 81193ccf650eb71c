"""A coo process for the crash matrix: run the spine through the dispatcher, crashing (SIGKILL) at a point.

    python -m tests.crash.driver DATA_DIR DB_URL|- crash POINT   # message → approve → undo, dies at POINT
    python -m tests.crash.driver DATA_DIR DB_URL|- finish        # restart: recover, complete, click stale
                                                                 # buttons again, print a JSON report
The chat is a JSON-lines file (what a platform would have received).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select

from bot.app import App
from bot.dispatch import Click, Dispatcher
from bot.messages import Reply
from bot.render import render_all
from graph.faults import Faults
from memory.knowledge.embedders import HashingEmbedder
from memory.tables import Approval, Event, LedgerEntry
from tests.conftest import make_settings

CONV, USER = "test:C1", "test:U1"


class FileOutbound:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _write(self, doc: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(doc) + "\n")
            f.flush()

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        n = sum(1 for _ in self.path.open()) if self.path.exists() else 0
        buttons = [b.action for b in (reply.card.buttons if reply.card else reply.buttons)]
        self._write(
            {"op": "send", "n": n, "text": reply.card.title if reply.card else reply.text, "buttons": buttons}
        )
        return {"n": n}

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        self._write({"op": "update", "ref": ref, "text": reply.text})


def build(data: Path, db: str | None, crash_at: str | None) -> tuple[App, Dispatcher]:
    scale_out: dict[str, Any] = {}
    if db is not None:  # the scale-out cell: PostgreSQL and the Redis broker together, as deployed
        from tests.services import REDIS_URL

        scale_out = {"redis_url": REDIS_URL, "coo_redis_namespace": f"coo-crash-{data.name}"}
    settings = make_settings(data / "data", database_url=db, coo_operators=[USER], **scale_out)
    app = App(settings, faults=Faults(crash_at), embedder=HashingEmbedder())
    return app, Dispatcher(app, "test", FileOutbound(data / "chat.jsonl"))


def approval_id(app: App) -> str | None:
    with Session(app.db) as s:
        ap = s.exec(select(Approval).order_by(col(Approval.created_at))).first()
    return ap.id if ap else None


def effect_id(app: App) -> str | None:
    with Session(app.db) as s:
        ev = s.exec(select(Event).where(Event.kind == "effect")).first()
    return ev.id if ev else None


async def click(d: Dispatcher, action: str, value: str | None, n: int) -> None:
    if value is None:
        return
    private = await d.click(Click(f"k{n}", CONV, USER, action, value))
    await d.deliver(CONV, private)
    await d.drain()


async def crash_run(app: App, d: Dispatcher) -> None:
    await d.accept(delivery_id="m1", conversation=CONV, actor=USER, text="expense 12.50 coffee")
    await d.drain()
    await click(d, "approve", approval_id(app), 1)
    await click(d, "undo", effect_id(app), 2)


async def finish(app: App, d: Dispatcher) -> dict[str, Any]:
    await d.recover()
    for conversation, outs in await asyncio.to_thread(app.engine.recover):
        await d.deliver(conversation, render_all(outs))
    await d.drain()
    await click(d, "approve", approval_id(app), 3)
    await click(d, "undo", effect_id(app), 4)
    await click(d, "approve", approval_id(app), 5)  # stale clicks: must say so, and do nothing
    await click(d, "undo", effect_id(app), 6)
    with Session(app.db) as s:
        kinds = [
            e.kind for e in s.exec(select(Event).where(col(Event.kind).in_(["effect", "compensation"]))).all()
        ]
        entries = [e.kind for e in s.exec(select(LedgerEntry)).all()]
        pending = s.exec(select(func.count()).select_from(Approval).where(Approval.status == "pending")).one()
    return {"events": sorted(kinds), "entries": sorted(entries), "pending": pending}


def main() -> None:
    data, db, mode = Path(sys.argv[1]), (None if sys.argv[2] == "-" else sys.argv[2]), sys.argv[3]
    app, d = build(data, db, sys.argv[4] if mode == "crash" else None)
    try:
        if mode == "crash":
            asyncio.run(crash_run(app, d))
        else:
            print(json.dumps(asyncio.run(finish(app, d))))
    finally:
        d.close()
        app.close()


if __name__ == "__main__":
    main()
