"""Plain language without a model, measured on tests/graph/intent_eval.txt: the grammar alone, then with intents.

Floors: intent accuracy 90% or more, 0 wrong amounts (a line whose amount cannot be read exactly never
gets a card with another amount), and 95% or more of the lines that mean nothing get "did you mean" or
"not understood". Run with ``-s`` to see the figures and the intents mixed up most.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agents.money import AmountError, parse_amount
from graph.intents import IntentIndex
from graph.rules import RulePlanner, grammar
from graph.slots import SlotContext
from graph.understand import Understander

EVAL = Path(__file__).with_name("intent_eval.txt")
HELDOUT = Path(__file__).with_name("intent_heldout.txt")  # never used to tune: it measures
HELDOUT2 = Path(__file__).with_name("intent_heldout2.txt")  # a fresh one, after the first was partly seen
NOW = datetime(2026, 12, 4, 10, tzinfo=UTC)
CUSTOMERS = ("Acme", "Globex", "Priya Shah")
OPEN = {"Acme": ("INV-2026-0007",)}


@dataclass(frozen=True)
class Case:
    """One labelled line."""

    line: str
    intent: str  # "" for a line that means nothing
    ask: bool  # the right answer offers the command instead of acting
    slots: dict[str, str] = field(default_factory=dict)


def load(path: Path = EVAL) -> list[Case]:
    """Read an evaluation set."""
    cases = []
    for raw in path.read_text().splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        line, intent, slots = (x.strip() for x in raw.split("|"))
        pairs = dict(kv.split("=", 1) for kv in slots.split(";") if kv.strip())
        cases.append(
            Case(
                line,
                "" if intent == "-" else intent.lstrip("?"),
                intent.startswith("?"),
                {k.strip(): v.strip() for k, v in pairs.items()},
            )
        )
    return cases


def _key(raw_key: str) -> str:
    return "research.research" if raw_key.startswith("research.") else raw_key  # a topic alone: a recall


@dataclass
class Outcome:
    """What a planner made of one line: acted (intent and arguments), offered (intent) or refused."""

    way: str  # act | offer | none
    intent: str = ""
    args: dict[str, object] = field(default_factory=dict)


def _readable(args: dict[str, object]) -> bool:
    try:
        "amount" not in args or parse_amount(args["amount"])
    except (ValueError, ArithmeticError):
        return False
    return True


def grammar_alone(case: Case) -> Outcome:
    """The rule-based model before intents: the exact grammar."""
    try:
        raw = grammar(case.line)
    except AmountError:  # refused, saying what to type
        return Outcome("offer", case.intent if case.ask else "")
    if raw is None:
        return Outcome("none")
    if not _readable(raw.arguments):
        return Outcome("offer", _key(raw.key))
    return Outcome("act", _key(raw.key), raw.arguments)


def with_intents(planner: RulePlanner, case: Case) -> Outcome:
    """The rule-based model with intents."""
    plan, u = planner.decide(case.line)
    if plan is not None and plan.proposals:
        raw = plan.proposals[0]
        if not _readable(raw.arguments):  # the registry refuses it, saying what to type: an offer
            return Outcome("offer", _key(raw.key))
        return Outcome("act", _key(raw.key), raw.arguments)
    if plan is not None and plan.reply.startswith("Nothing was recorded"):  # refused, saying what to type
        return Outcome("offer", case.intent if case.ask else "")
    if plan is not None:  # help
        return Outcome("act", "chat.help")
    if u is not None and u.way == "offer":
        return Outcome("offer", u.offers[0].phrasing.key)
    return Outcome("none")


def _same(expected: str, got: object, amount: bool = False) -> bool:
    if amount:
        try:
            return Decimal(expected) == parse_amount(got)
        except (ValueError, ArithmeticError):
            return False
    return expected.lower() == str(got).strip().lower()


@dataclass
class Score:
    """The figures of one run over the set."""

    cases: int = 0
    intents_right: int = 0
    slots_checked: int = 0
    slots_right: int = 0
    wrong_amounts: list[str] = field(default_factory=list)
    nothing: int = 0
    nothing_refused: int = 0
    offered: int = 0
    refused: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, case: Case, got: Outcome) -> None:
        """Score one line."""
        self.offered += got.way == "offer"
        self.refused += got.way == "none"
        amount = got.args.get("amount") if got.way == "act" else None
        if amount is not None and (case.ask or not _same(case.slots.get("amount", "-1"), amount, True)):
            self.wrong_amounts.append(f"{case.line!r} -> {amount}")
        if not case.intent:
            self.nothing += 1
            self.nothing_refused += got.way != "act"
            return
        self.cases += 1
        right = got.intent == case.intent and got.way == ("offer" if case.ask else "act")
        self.intents_right += right
        if not right:
            self.confusion[(case.intent, f"{got.way}:{got.intent}")] += 1
        if right and not case.ask:
            self.slots_checked += 1
            self.slots_right += all(
                _same(v, got.args.get(k, ""), k == "amount") for k, v in case.slots.items()
            )

    def line(self, name: str) -> str:
        """Return the figures in one line."""
        n = self.cases + self.nothing
        return (
            f"{name:14s} intents {self.intents_right}/{self.cases} ({self.intents_right / self.cases:.1%})"
            f" · slots {self.slots_right}/{self.slots_checked}"
            f" · wrong amounts {len(self.wrong_amounts)}"
            f" · nothing-lines refused {self.nothing_refused}/{self.nothing}"
            f" · offered {self.offered / n:.0%}, not understood {self.refused / n:.0%}"
        )


def planner_with_intents(embedder) -> RulePlanner:
    """Return the rule-based model with intents, over a fixed clock and workspace."""
    ctx = SlotContext(now=NOW, customers=lambda: CUSTOMERS, open_invoices=lambda name: OPEN.get(name, ()))
    return RulePlanner(Understander(IntentIndex(embedder), lambda: ctx))


@pytest.fixture(scope="module")
def scores(use_embedder) -> tuple[Score, Score]:
    cases = load()
    planner = planner_with_intents(use_embedder)
    before, after = Score(), Score()
    for case in cases:
        before.add(case, grammar_alone(case))
        after.add(case, with_intents(planner, case))
    print()
    print(before.line("grammar alone"))
    print(after.line("with intents"))
    print("mixed up most:", after.confusion.most_common(8))
    return before, after


def test_the_set_is_large_and_labelled():
    cases = load()
    assert len(cases) >= 150
    assert sum(not c.intent for c in cases) >= 20
    assert len({c.line for c in cases}) == len(cases)


def test_intents_understand_at_least_nine_lines_in_ten(scores):
    before, after = scores
    assert after.intents_right / after.cases >= 0.90, after.confusion.most_common(10)
    assert after.intents_right > before.intents_right


def test_no_line_gets_a_card_with_an_amount_it_did_not_say(scores):
    _, after = scores
    assert after.wrong_amounts == []


def test_lines_that_mean_nothing_are_offered_or_refused(scores):
    _, after = scores
    assert after.nothing_refused / after.nothing >= 0.95


def test_slots_are_read_right(scores):
    _, after = scores
    assert after.slots_right / after.slots_checked >= 0.90


@pytest.mark.parametrize("line", ["ok", "thanks", "lol", "hello"])
def test_small_talk_is_never_offered_a_channel_command(use_embedder, line):
    _, u = planner_with_intents(use_embedder).decide(line)
    assert u is not None and all(f.phrasing.kind != "chat" for f in u.offers), u


def _held_out(use_embedder, path: Path, label: str) -> Score:
    planner = planner_with_intents(use_embedder)
    score = Score()
    for case in load(path):
        score.add(case, with_intents(planner, case))
    print()
    print(score.line(label))
    offered_right = sum(n for (want, got), n in score.confusion.items() if got == f"offer:{want}")
    print(f"{label}: right, or the right command offered: {score.intents_right + offered_right}/{score.cases}")
    print(f"{label}, mixed up most:", score.confusion.most_common(8))
    return score


@pytest.fixture(scope="module")
def heldout(use_embedder) -> Score:
    return _held_out(use_embedder, HELDOUT, "held out")


@pytest.fixture(scope="module")
def heldout2(use_embedder) -> Score:
    return _held_out(use_embedder, HELDOUT2, "held out (2)")


def test_the_held_out_set_never_gets_a_wrong_amount_and_mostly_understands(heldout):
    assert heldout.cases >= 50 and heldout.nothing >= 10
    assert heldout.wrong_amounts == []
    # A floor below the tuned set's (measured 41/54 = 75.9% when the set was written): these lines were
    # never used to tune, so this is the honest figure, and the floor only catches a regression.
    assert heldout.intents_right / heldout.cases >= 0.72, heldout.confusion.most_common(10)
    assert heldout.nothing_refused / heldout.nothing >= 0.90


def test_the_second_held_out_set_never_gets_a_wrong_amount(heldout2):
    assert heldout2.cases >= 40 and heldout2.nothing >= 10
    assert heldout2.wrong_amounts == []
    # Measured 31/46 = 67.4% when the set was written (37/46 right or the right command offered; every
    # nothing-line refused; slots 30/30): the honest figure for lines nobody tuned on. The floor only
    # catches a regression.
    assert heldout2.intents_right / heldout2.cases >= 0.62, heldout2.confusion.most_common(10)
    assert heldout2.nothing_refused / heldout2.nothing >= 0.90
