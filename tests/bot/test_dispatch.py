"""The channel-neutral dispatcher: durable inbox, dedupe, clicks, in-place updates, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bot.dispatch import Click, Dispatcher, Door
from bot.messages import Reply
from memory import inbox


class RecordingOutbound:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []
        self.updated: list[tuple[dict[str, Any], Reply]] = []

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        self.sent.append((conversation, reply))
        return {"n": len(self.sent)}

    async def update(self, ref: dict[str, Any], reply: Reply) -> None:
        self.updated.append((ref, reply))


OPS = {"coo_operators": ["test:U1"]}


async def test_duplicate_delivery_acts_once_and_card_updates_in_place(app_factory):
    app = app_factory(settings=OPS)
    out = RecordingOutbound()
    d = Dispatcher(app, "test", out)
    first, second = await asyncio.gather(
        d.accept(delivery_id="e1", conversation="test:C1", actor="test:U1", text="expense 9 pens"),
        d.accept(delivery_id="e1", conversation="test:C1", actor="test:U1", text="expense 9 pens"),
    )
    assert sorted([first, second]) == [False, True]
    await d.drain()
    [(conv, card)] = out.sent
    assert conv == "test:C1" and card.card is not None
    ap = card.card.buttons[0].value

    private = await d.click(Click("k1", "test:C1", "test:U2", "approve", ap))
    assert private[0].text.startswith("Only this workspace's operators")
    assert await d.click(Click("k2", "test:C1", "test:U1", "approve", ap)) == []
    # The card was updated in place; the effect was posted with Undo.
    assert out.updated[0][0] == {"n": 1} and out.updated[0][1].text.startswith("Approved by test:U1")
    assert out.sent[-1][1].buttons[0].action == "undo"
    again = await d.click(Click("k3", "test:C1", "test:U1", "approve", ap))
    assert again[0].text.startswith("Already approved")


async def test_non_operator_message_runs_nothing(app_factory):
    app = app_factory(settings=OPS)
    out = RecordingOutbound()
    d = Dispatcher(app, "test", out)
    await d.accept(delivery_id="e9", conversation="test:C1", actor="test:U666", text="expense 9 pens")
    await d.drain()
    assert out.sent[0][1].text.startswith("I only take requests")
    assert app.engine.pending() == []


async def test_accepted_before_crash_is_processed_after_restart(app_factory):
    app = app_factory(settings=OPS)
    # The delivery was recorded (and acked), then the process died before processing it.
    inbox.record(
        app.db,
        delivery_id="test:e5",
        channel="test",
        conversation="test:C1",
        actor="test:U1",
        text="expense 5 stamps",
    )
    app.close()
    app2 = app_factory(settings=OPS)
    out = RecordingOutbound()
    await Dispatcher(app2, "test", out).recover()
    assert len(out.sent) == 1 and out.sent[0][1].card is not None
    # Recovering again does not post a second card.
    await Dispatcher(app2, "test", out).recover()
    assert len(out.sent) == 1


async def test_engine_work_waits_while_a_request_is_still_being_acknowledged(app_factory):
    from graph.planner import Plan, PlanRequest

    planned: list[str] = []

    class Recording:
        name = "recording"

        def plan(self, request: PlanRequest) -> Plan:
            planned.append(request.text)
            return Plan(reply="ok", planner=self.name)

    app = app_factory(settings=OPS, planner=Recording())
    out = RecordingOutbound()
    d = Dispatcher(app, "test", out)
    d.ack_first_s = 60.0  # long enough that only the end of the request can release it
    # Given another platform request is still on its way to its answer...
    d.request_started()
    assert await d.accept(delivery_id="q1", conversation="test:C1", actor="test:U1", text="hello")

    # ...the accepted message is recorded but the engine does not start on it (given a whole second).
    async def planning() -> None:
        while not planned:
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(planning(), 1.0)
    except TimeoutError:
        pass
    assert planned == [] and inbox.unfinished(app.db, "test")
    # When that request is answered, the work goes ahead.
    d.request_done()
    await d.drain()
    assert planned == ["hello"] and out.sent[-1][1].text == "ok"


async def test_engine_work_does_not_starve_under_endless_requests(app_factory):
    app = app_factory(settings=OPS)
    out = RecordingOutbound()
    d = Dispatcher(app, "test", out)
    d.ack_first_s = 0.05
    d.request_started()  # never answered
    await d.accept(delivery_id="q2", conversation="test:C1", actor="test:U1", text="balance")
    await d.drain()
    assert out.sent[-1][1].text.startswith("Balance")


class GatedOutbound(RecordingOutbound):
    """Holds every post until the gate opens (the turns stay in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send(self, conversation: str, reply: Reply) -> dict[str, Any]:
        await self.gate.wait()
        return await super().send(conversation, reply)


async def test_take_new_pulls_the_backlog_no_more_at_once_than_its_turns(app_factory):
    app = app_factory(settings=OPS)
    for i in range(5):  # recorded by the HTTP process; a non-operator's: refused without the engine
        inbox.record(
            app.db,
            delivery_id=f"test:e{i}",
            channel="test",
            conversation=f"test:C{i}",
            actor=f"test:U9{i}",
            text="hi",
        )
    out = GatedOutbound()
    d = Dispatcher(app, "test", out, engine_workers=2)
    ended: list[int] = []
    d.on_turn_end(lambda: ended.append(1))
    assert len(await d.take_new()) == 2
    assert await d.take_new() == []  # no room: a turn's end looks again
    states = sorted(i.status for i in inbox.unfinished(app.db, "test"))
    assert states == ["processing", "processing", "received", "received", "received"]
    out.gate.set()
    await d.drain()
    assert len(ended) == 2
    while inbox.unfinished(app.db, "test"):
        assert await d.take_new()
        await d.drain()
    assert sorted(conv for conv, _ in out.sent) == [f"test:C{i}" for i in range(5)]  # each replied once
    assert len(ended) == 5
    assert all(i.attempts == 1 for i in map(lambda k: inbox.get(app.db, f"test:e{k}"), range(5)) if i)


async def test_a_delivery_a_sweep_started_is_not_claimed_from_under_it_by_take_new(app_factory):
    # The engine process's start: its sweep hands a delivery to its handler, whose claim comes later;
    # a wake's `take_new` meanwhile must leave it alone. It used to claim it, so the handler's own
    # claim failed and nobody answered while this process renewed the lease (the engine-process bench
    # then waited for a reply forever, about one start in two).
    app = app_factory(settings=OPS)
    inbox.record(
        app.db, delivery_id="test:e1", channel="test", conversation="test:C1", actor="test:U1", text="hi"
    )
    door = Door(app, "test")
    gate = asyncio.Event()
    handled: list[tuple[str, bool]] = []

    async def handler(key: str, dead: Sequence[str]) -> None:
        await gate.wait()  # the handler's claim comes after the wake's look
        mine = door.taken(key) or await asyncio.to_thread(app.owner.claim, key, dead)
        handled.append((key, mine))
        if mine:
            inbox.finish(app.db, key, "done")

    door.lane("test", handler)
    started = await door.sweep(starting=True)
    assert len(started) == 1
    assert await door.take_new() == []  # the swept delivery is this door's work already
    gate.set()
    await door.drain()
    assert handled == [("test:e1", True)]
    assert inbox.get(app.db, "test:e1").status == "done"
