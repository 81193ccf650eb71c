from __future__ import annotations

import pytest

from bot.console import ConsoleSession
from graph.limits import Limits, RateLimiter
from graph.planner import Plan, PlanRequest, RawProposal


def test_rate_limiter_window():
    r = RateLimiter(2)
    assert r.allow("a", 0) and r.allow("a", 1)
    assert not r.allow("a", 2)
    assert r.allow("b", 2)
    assert r.allow("a", 61)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_oversized_message_and_flooding_are_refused(app_factory):
    app = app_factory()
    app.engine.limits = Limits(max_input_chars=100, requests_per_minute=3)
    app.engine._rate = RateLimiter(3)
    chat = ConsoleSession(app)
    [r] = chat.send("task " + "x" * 200)
    assert r.text.startswith("That message is too long") and app.engine.pending() == []
    for _ in range(3):
        chat.send("balance")
    assert chat.send("balance")[0].text.startswith("You are sending requests faster")


class Greedy:
    name = "greedy"

    def plan(self, request: PlanRequest) -> Plan:
        return Plan(proposals=[RawProposal("tasks.add_task", {"text": f"t{i}"}) for i in range(15)])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_too_many_proposals_are_denied(app_factory):
    app = app_factory(planner=Greedy())
    replies = ConsoleSession(app).send("do everything")
    assert sum(1 for r in replies if r.card) == 10
    assert sum(1 for r in replies if r.text == "Refused: more than 10 actions in one request") == 5
