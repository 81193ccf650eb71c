from __future__ import annotations

from agents.catalog import default_registry
from graph.policy import Policy


def action(key: str, args: dict, untrusted: bool = False):
    return default_registry().propose(key, args, run_id="r", index=0, untrusted=untrusted)


def test_default_is_ask_for_writes_and_run_for_reads():
    p = Policy()
    assert p.decide(action("bookkeeping.record_expense", {"amount": 1})).verdict == "ask"
    assert p.decide(action("bookkeeping.balance", {})).verdict == "run"


def test_auto_trust_has_limits():
    p = Policy(trust={"bookkeeping.record_expense": "auto"}, auto_amount_limit_cents=50_00)
    assert p.decide(action("bookkeeping.record_expense", {"amount": 10})).verdict == "run"
    assert p.decide(action("bookkeeping.record_expense", {"amount": 51})).verdict == "ask"
    assert p.decide(action("bookkeeping.record_expense", {"amount": 10}, untrusted=True)).verdict == "ask"


def test_deny_beats_ask_beats_run():
    p = Policy(trust={"bookkeeping.record_expense": "auto"}, hard_amount_limit_cents=100_00)
    assert p.decide(action("bookkeeping.record_expense", {"amount": 101})).verdict == "deny"
    p2 = Policy(denied=frozenset({"bookkeeping.balance"}))
    assert p2.decide(action("bookkeeping.balance", {})).verdict == "deny"


def test_an_extra_check_can_only_make_a_verdict_stricter():
    seen: list[str] = []

    def no_big_memos(act):
        seen.append(act.name)
        return ("deny", "memo too long") if len(act.arguments.get("memo", "")) > 10 else None

    def lenient(_action):
        return ("run", "I like it")

    p = Policy(trust={"bookkeeping.record_expense": "auto"}, checks=(no_big_memos, lenient))
    assert p.decide(action("bookkeeping.record_expense", {"amount": 1, "memo": "short"})).verdict == "run"
    assert (
        p.decide(action("bookkeeping.record_expense", {"amount": 1, "memo": "a very long memo"})).verdict
        == "deny"
    )
    assert (
        Policy(checks=(lenient,)).decide(action("bookkeeping.record_expense", {"amount": 1})).verdict == "ask"
    )
    assert seen == ["bookkeeping.record_expense"] * 2


def test_an_advisory_kind_is_asked_as_advisory_whatever_else_would_run_it():
    from memory.trust import ADVISORY_PREFIX, Level

    advisory = Level("bookkeeping.record_expense", "advisory")
    p = Policy(
        trust={"bookkeeping.record_expense": "auto"},
        hard_amount_limit_cents=100_00,
        learned=lambda kind: advisory if kind == advisory.kind else None,
    )
    d = p.decide(action("bookkeeping.record_expense", {"amount": 40, "memo": "ink"}))
    assert (d.verdict, d.advisory) == ("ask", True)
    assert d.reason.startswith(ADVISORY_PREFIX + "coo would record") and d.reason.endswith("did you do this?")
    denied = p.decide(action("bookkeeping.record_expense", {"amount": 101}))
    assert (denied.verdict, denied.advisory) == ("deny", False)  # deny still beats everything
    other = p.decide(action("bookkeeping.record_income", {"amount": 5}))
    assert not other.advisory and other.verdict == "ask"
    assert not p.decide(action("bookkeeping.balance", {})).advisory  # reads are not shadowed
