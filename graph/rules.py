"""The rule-based model: a small grammar that needs no API key and costs nothing."""

from __future__ import annotations

from agents.catalog import rules
from agents.money import AmountError
from agents.spec import Rule
from graph import smalltalk
from graph.help import HELP
from graph.planner import Plan, PlanRequest, RawProposal
from graph.understand import Understander, Understood

__all__ = ["HELP", "RulePlanner", "grammar"]

_RULES: tuple[Rule, ...] = rules()
"""The grammar: every agent spec's rules, in ``agents.catalog`` order (the first that matches wins)."""


NOT_UNDERSTOOD = "I did not understand that."
RULE_MODE = (
    "coo is answering without a model (rule-based mode): it understands the commands in `help` and"
    " plain lines close to them. To understand anything else, connect a model: set OPENAI_API_KEY"
    " (or OPENAI_BASE_URL for a local server such as Ollama) and COO_MODEL, then restart."
)


def grammar(text: str) -> RawProposal | None:
    """Return the proposal of a line the grammar matches exactly, else None."""
    for rule in _RULES:
        m = rule.pattern.match(text)
        if m:
            return rule.build(m)
    return None


_NEEDS_AMOUNT = {
    **dict.fromkeys(("expense", "spent", "paid"), "expense 40 lunch"),
    **dict.fromkeys(("income", "received", "earned"), "income 300 consulting"),
    "invoice": "invoice Acme 1200 website",
    "deal": "deal Bob 5000 website",
}


class RulePlanner:
    """Matches a line against the grammar, then against the intents' examples; anything else gets help.

    Args:
        understander: Plain language (``graph.understand``); None: the grammar alone.
        explain_mode: Whether the first refusal to each actor says coo runs without a model, and how
            to connect one (no model is configured).
    """

    name = "rules"

    def __init__(self, understander: Understander | None = None, *, explain_mode: bool = False) -> None:
        self.understander = understander
        self.explain_mode = explain_mode
        self._told: set[str] = set()
        self._offered: dict[str, tuple[str, ...]] = {}  # actor -> the commands last offered, numbered

    def plan(self, request: PlanRequest) -> Plan:
        """Return one proposal for a recognised line, a "did you mean", or a refusal.

        After a "did you mean", typing an offer's number (``1``) runs that command.
        """
        offered = self._offered.pop(request.actor, ())
        choice = request.text.strip()
        if offered and choice.isdigit() and 1 <= int(choice) <= len(offered):
            return self._chosen(offered[int(choice) - 1])
        fast, u = self.decide(request.text)
        if fast is not None:
            return fast
        if (said := smalltalk.answer(request.text)) is not None:
            return Plan(reply=said, planner="rules:smalltalk")
        text = request.text.strip()
        example = _NEEDS_AMOUNT.get(text.split(None, 1)[0].lower() if text else "")
        # A money word without an amount where one belongs: say where it goes.
        head = (
            f"Nothing was recorded: put the amount where it belongs, like `{example}` (40, $40, 1,200.50 or 5k)."
            if example
            else NOT_UNDERSTOOD
        )
        offers: tuple[str, ...] = ()
        if u is not None and u.way == "offer":
            reply, planner = _offer(u, head), "rules:offer"
            self._offered[request.actor] = tuple(f.line for f in u.offers)
            offers = tuple(f.line for f in u.offers if "<" not in f.line)  # buttons: only what runs as it is
        elif example:
            reply, planner = head, "rules:none"
        else:
            reply, planner = f"{NOT_UNDERSTOOD} Type `help` to see what I can do.", "rules:none"
        if self.explain_mode and request.actor not in self._told:
            self._told.add(request.actor)
            reply += "\n" + RULE_MODE
        return Plan(reply=reply, planner=planner, offers=offers)

    def _chosen(self, line: str) -> Plan:
        if not parses(line):
            if "<" in line:
                return Plan(
                    reply=f"That one needs what is in <…>: type it in full, e.g. `{line}`.", planner=self.name
                )
            return Plan(reply=f"Type `{line}` to do that.", planner=self.name)  # the channel answers it
        raw = grammar(line)
        assert raw is not None
        return Plan(proposals=[raw], planner="rules:choice")

    def confident(self, text: str) -> Plan | None:
        """Return the plan for a line the grammar matches, or a confident intent fills; None otherwise.

        This is the rule-based rung a model ladder tries first: what it returns needs no model.
        """
        return self.decide(text)[0]

    def instead_of_model(self, text: str) -> Plan | None:
        """Return the plan for a line a configured model need not see; None to ask the model.

        That is a line the grammar matches, or one a confident intent fills with a value beyond words
        (an amount, an invoice number, an address, a date). Reads and free text (``remind me to …``)
        still go to the model, which sees the thread and the memory.
        """
        plan, u = self.decide(text)
        if plan is None or not plan.proposals:
            return None
        if u is None:
            return plan
        if u.chosen is not None and u.chosen.phrasing.kind == "write" and u.chosen.structured:
            return plan
        return None

    def decide(self, text: str) -> tuple[Plan | None, Understood | None]:
        """Return the confident plan for a line (or None), and what the intents made of it (if asked)."""
        text = text.strip()
        if text.lower() in {"help", "?", "/help", "/start"}:
            return Plan(reply=HELP, planner=self.name), None
        try:
            raw = grammar(text)
        except AmountError as exc:  # never a number other than the one meant: say what to type
            return Plan(reply=f"Nothing was recorded: {exc}", planner=self.name), None
        if raw is not None:
            return Plan(proposals=[raw], planner=self.name), None
        if self.understander is None or not text:
            return None, None
        u = self.understander.understand(text, lambda line: line == "help" or parses(line))
        if u.way != "act" or u.chosen is None:
            return None, u
        if u.chosen.phrasing.key == "chat.help":
            return Plan(reply=HELP, planner="rules:intent"), u
        raw = grammar(u.chosen.line)
        assert raw is not None  # the understander checked that the line parses
        return Plan(proposals=[raw], planner="rules:intent"), u


def _offer(u: Understood, head: str = NOT_UNDERSTOOD) -> str:
    lines = [f"`{f.line}`" for f in u.offers]
    head += f" {u.problem}" if u.problem else ""
    runnable = [f for f in u.offers if parses(f.line)]
    if len(lines) == 1:
        return f"{head} Did you mean: {lines[0]}?" + (" Type 1 to run it." if runnable else "")
    tail = "\nType its number to run it." if runnable else ""
    return f"{head} Did you mean:\n" + "\n".join(f"{i}. {x}" for i, x in enumerate(lines, 1)) + tail


def parses(line: str) -> bool:
    """Tell whether the grammar takes a line as it is (an amount it would refuse: no)."""
    try:
        return grammar(line) is not None
    except AmountError:
        return False
