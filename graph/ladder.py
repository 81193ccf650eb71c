"""The model ladder: a planner that picks the cheapest rung the budget and the models' health allow.

Rungs, best first: the primary model → the cheap model → a cached answer → the rule-based model.

Before any model rung, a command the rule-based model understands for sure is served by it, with no
model call: a line its grammar matches, or a confident intent with every slot read and a value beyond
words among them (``RulePlanner.instead_of_model``). Questions, reads and chat still go to the model,
and so does a request that carries untrusted content (the model's context marks it as data).

- Each model rung first looks up its own answer to the exact prompt in the response cache; a hit is
  served free (rung ``cache``).
- The primary rung is skipped for the cheap one once spend passes ``cheap_at`` of the tightest cap.
- A model rung is used only when the ledger can reserve its estimate under every cap; otherwise the
  ladder steps down, so a run that would cross a cap never makes the call.
- A 429, a 5xx or a timeout steps down too, and that rung cools down (doubling per failure, or what
  the server's Retry-After said) before it is tried again.
- An answer that retrying will not fix (a 4xx, HTML, a malformed or an empty answer) steps down as
  well, rests the rung for ``broken_rest_s``, and the reply says the cause in plain words.
- Below the models: any model's cached answer to this exact prompt, then the rule-based model, which
  needs no budget, so the grammar keeps working when the money runs out.

Every call, whichever rung served it, is recorded in the ledger with its rung.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from graph.budget import BudgetLedger
from graph.cache import ResponseCache
from graph.chat_model import ChatPlanner, Prompt, plan_from_record
from graph.errors import ModelBroken, ModelUnavailable
from graph.placement import DEFAULT, Router
from graph.planner import Plan, Planner, PlanRequest, Usage

log = logging.getLogger(__name__)

RungName = Literal["primary", "cheap", "cache", "rules"]


class Backoff:
    """Per-rung cool-down after failures: ``base_s`` doubling per consecutive failure, at most ``max_s``."""

    def __init__(
        self, base_s: float = 2.0, max_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.base_s, self.max_s, self.clock = base_s, max_s, clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def failed(self, rung: str, retry_after: float | None = None) -> float:
        """Note a failure; return how long the rung now rests."""
        with self._lock:
            n = self._failures.get(rung, 0) + 1
            self._failures[rung] = n
            wait = min(self.base_s * 2 ** (n - 1), self.max_s)
            if retry_after is not None:
                wait = min(max(wait, retry_after), self.max_s)
            self._until[rung] = self.clock() + wait
            return wait

    def ok(self, rung: str) -> None:
        """Note a success: the rung is healthy again."""
        with self._lock:
            self._failures.pop(rung, None)
            self._until.pop(rung, None)

    def resting(self, rung: str) -> float:
        """Return the seconds a rung still rests (0 when it may be tried)."""
        with self._lock:
            return max(self._until.get(rung, 0.0) - self.clock(), 0.0)


@dataclass(frozen=True)
class ModelRung:
    """A model rung: its name, its planner, and the endpoint it belongs to (``COO_PLACEMENT``)."""

    name: Literal["primary", "cheap"]
    planner: ChatPlanner
    endpoint: str = DEFAULT

    @property
    def key(self) -> str:
        """Return what the rung's health is kept under (its name, prefixed by a placed endpoint's)."""
        return self.name if self.endpoint == DEFAULT else f"{self.endpoint}:{self.name}"


@dataclass(frozen=True)
class RungNow:
    """The rung the next call would start from, and why it is not a better one."""

    rung: RungName
    model: str
    reason: str = ""


class Ladder:
    """A Planner over the rungs, driven by spend and by the models' errors."""

    name = "ladder"

    def __init__(
        self,
        *,
        rules: Planner,
        ledger: BudgetLedger,
        primary: ChatPlanner | None = None,
        cheap: ChatPlanner | None = None,
        cache: ResponseCache | None = None,
        cheap_at: float = 0.8,
        backoff: Backoff | None = None,
        broken_rest_s: float = 60.0,
        rules_first: Callable[[str], Plan | None] | None = None,
        router: Router | None = None,
        endpoints: dict[str, ChatPlanner] | None = None,
    ) -> None:
        self.rules, self.ledger, self.cache, self.cheap_at = rules, ledger, cache, cheap_at
        self.rules_first = rules_first
        self.calls_saved = 0  # commands served before any model rung (counted for the token benchmark)
        self.broken_rest_s = broken_rest_s
        self.rungs = [ModelRung("primary", primary)] if primary else []
        if cheap:
            self.rungs.append(ModelRung("cheap", cheap))
        self.backoff = backoff or Backoff()
        # A request is routed to its agents first: it is offered their tools, planned by their endpoint.
        self.router = router
        self.placed = {name: [ModelRung("primary", p, name)] for name, p in (endpoints or {}).items()}
        # Model choice by override rate (graph/trust.py): given the agents a request is routed to, the
        # reason the cheap model plans it although the budget is not tight ("" when the primary should).
        self.prefer_cheap: Callable[[tuple[str, ...] | None], str] | None = None

    def fixed_tokens(self, agents: tuple[str, ...] | None) -> int:
        """Count the instructions and tools a call routed to ``agents`` carries (for the context budget)."""
        route = self.router.place(agents or ()) if self.router is not None and agents is not None else None
        rungs = self._rungs(route.endpoint if route else DEFAULT)
        return rungs[0].planner.fixed_tokens(agents) if rungs else 0

    def _rungs(self, endpoint: str) -> list[ModelRung]:
        return self.placed.get(endpoint, self.rungs)

    def _why_not(self, rung: ModelRung, agent: str, agents: tuple[str, ...] | None = None) -> str:
        """Return why a rung is skipped before pricing the call ("" when it is not)."""
        resting = self.backoff.resting(rung.key)
        if resting:
            return f"{rung.name} model resting {resting:.0f}s after errors"
        if rung.name == "primary" and rung.endpoint == DEFAULT and len(self.rungs) > 1:
            pressure = self.ledger.headroom(agent).pressure
            if pressure >= self.cheap_at:
                return f"spend at {pressure:.0%} of a cap"
            if self.prefer_cheap is not None and (why := self.prefer_cheap(agents)):
                return why
        return ""

    def plan(self, request: PlanRequest) -> Plan:
        """Plan on the best rung that is affordable and healthy."""
        run_id, agent = request.run_id or "-", request.agent
        rungs = self.rungs
        if self.router is not None:
            route = self.router.route(request.text)
            request = replace(request, agents=route.agents)
            rungs = self._rungs(route.endpoint)
        if rungs and self.rules_first is not None and not request.untrusted:
            fast = self.rules_first(request.text)
            if fast is not None and fast.proposals:  # a command: no model call needed
                self.calls_saved += 1
                usage = self.ledger.record(
                    run_id=run_id, agent=agent, usage=Usage("rules", 0, 0, 0.0), rung="rules"
                )
                return replace(fast, usage=[usage])
        reasons: list[str] = []
        broken: list[str] = []
        prompt_hash = ""
        for rung in rungs:
            prompt = rung.planner.prompt(request)
            prompt_hash = prompt_hash or prompt.prompt_hash()
            if self.cache is not None and (hit := self.cache.get(prompt.key())) is not None:
                return self._cached(run_id, agent, rung.planner.model_name, hit)
            why = self._why_not(rung, agent, request.agents)
            plan = None if why else self._call(rung, prompt, run_id, agent, reasons, broken)
            if plan is not None:
                return plan
            if why:
                reasons.append(why)
        if self.cache is not None and prompt_hash and (any_hit := self.cache.get_any(prompt_hash)):
            return self._cached(run_id, agent, *any_hit)
        return self._rules(request, run_id, agent, reasons, broken)

    def _call(
        self,
        rung: ModelRung,
        prompt: Prompt,
        run_id: str,
        agent: str,
        reasons: list[str],
        broken: list[str],
    ) -> Plan | None:
        """Reserve, call and settle one model rung; None (with the reason noted) when it cannot serve."""
        p = rung.planner
        res = self.ledger.reserve(
            run_id=run_id, agent=agent, model=p.model_name, usd=p.estimate(prompt).cost_usd
        )
        if res is None:
            reasons.append(f"{rung.name} model over budget")
            return None
        try:
            plan, record = p.complete(prompt)
        except ModelBroken as exc:
            self.ledger.release(res)
            self.backoff.failed(rung.key, self.broken_rest_s)
            log.warning("%s model %s unusable: %s", rung.name, p.model_name, exc.cause)
            broken.append(f"{rung.name} model: {exc.cause}")
            return None
        except ModelUnavailable as exc:
            self.ledger.release(res)
            wait = self.backoff.failed(rung.key, exc.retry_after)
            log.warning(
                "%s model %s unavailable (%s); resting %.0fs", rung.name, p.model_name, exc.status, wait
            )
            reasons.append(f"{rung.name} model unavailable ({exc.status or 'no response'})")
            return None
        except BaseException:
            self.ledger.release(res)
            raise
        usage = self.ledger.settle(res, plan.usage[0], rung.name)
        if not plan.proposals and not plan.reply:  # paid for, but said nothing: never "Nothing to do."
            self.backoff.failed(rung.key)
            log.warning("%s model %s answered nothing", rung.name, p.model_name)
            broken.append(f"{rung.name} model answered nothing")
            return None
        self.backoff.ok(rung.key)
        if self.cache is not None:
            self.cache.put(prompt.key(), prompt.prompt_hash(), p.model_name, record)
        return replace(plan, usage=[usage])

    def _cached(self, run_id: str, agent: str, model: str, record: dict[str, Any]) -> Plan:
        usage = self.ledger.record(run_id=run_id, agent=agent, usage=Usage(model, 0, 0, 0.0), rung="cache")
        return plan_from_record(record, f"cache:{model}"[:64], [usage])

    def _rules(
        self, request: PlanRequest, run_id: str, agent: str, reasons: list[str], broken: list[str]
    ) -> Plan:
        plan = self.rules.plan(request)
        usage = self.ledger.record(run_id=run_id, agent=agent, usage=Usage("rules", 0, 0, 0.0), rung="rules")
        reply = plan.reply
        if broken or (reasons and not plan.proposals):  # say why the model did not answer
            note = f"(Answered by the rule-based model: {'; '.join(broken + reasons)}.)"
            reply = f"{reply}\n{note}" if reply else note
        return replace(plan, reply=reply, usage=[usage])

    def now(self, agent: str = "planner") -> RungNow:
        """Return the rung a typical next call would be served from, and why not a better one."""
        reasons: list[str] = []
        headroom = self.ledger.headroom(agent)
        for rung in self.rungs:
            why = self._why_not(rung, agent)
            p = rung.planner
            if not why and headroom.remaining_usd is not None:
                typical = p.estimate(p.prompt(PlanRequest(text="", actor=""))).cost_usd
                if typical > headroom.remaining_usd:
                    why = f"{rung.name} model over budget"
            if not why:
                return RungNow(rung.name, p.model_name, "; ".join(reasons))
            reasons.append(why)
        if not self.rungs:
            return RungNow("rules", "rules", "no model configured")
        return RungNow("cache", "cached answers, else rules", "; ".join(reasons))
