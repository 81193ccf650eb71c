"""What an agent is: one spec that says everything the rest of coo needs to know about it.

An agent is a package ``agents/<name>/`` whose ``spec(deps, config)`` returns an ``AgentSpec``:

- its operations (``agents.contract.Operation``: args model, side effect, compensation, pre-check);
- its job kinds (``agents.jobkind.JobKind``), each with its ``Retry`` policy, which is also what its
  operations pass when they enqueue (one place for retries);
- its grammar rules, help lines and example phrasings, for the rule-based model and ``help``;
- its policy checks, doctor checks and digest sections;
- what to tell the user when its settings are missing (``not_set_up``), in place of its operations;
- its prompt for the model planner, with a version.

``agents.catalog`` lists the spec factories in one place; ``bot/app.py`` builds them in a loop from one
``Deps`` bundle and the typed configs read from settings. Nothing here reads the environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from agents.contract import Action, AgentPrompt, Operation, RawProposal
from agents.jobkind import JobKind
from agents.phrasings import Phrasing
from memory.tables import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from memory.knowledge.store import KnowledgeStore

Verdict = Literal["run", "ask", "deny"]


class Vote(Protocol):
    """What a policy check returns (``graph.policy.Vote``): a verdict and its reason."""

    verdict: Verdict
    reason: str


PolicyCheck = Callable[[Action], Any]
"""One extra policy rule: an action in, a ``graph.policy.Vote`` (or None: no opinion) out."""


class Rule(NamedTuple):
    """One line shape of the rule-based model: a pattern and what a match proposes."""

    pattern: re.Pattern[str]
    build: Callable[[re.Match[str]], RawProposal]


Where = Literal["rule", "chat"]
"""``rule``: the rule-based model's grammar (the specs' rules); ``chat``: answered by the channel itself
(decisions, undo, retry, jobs, slash commands, leaving the console)."""


@dataclass(frozen=True)
class HelpEntry:
    """One line of help.

    Attributes:
        usage: The command's form, e.g. ``expense <amount> <memo>``.
        what: What it does, in a few words.
        examples: Real lines it accepts (tests run them through the grammar).
        where: Who answers it (see ``Where``).
    """

    usage: str
    what: str
    examples: tuple[str, ...]
    where: Where = "rule"


@dataclass(frozen=True)
class Finding:
    """One finding of ``coo doctor``: what was checked, whether it is fine, and what to do if not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


DoctorCheck = Callable[[], "Finding | None"]
"""One of an agent's ``coo doctor`` checks: a probe returning its finding (None: nothing to say)."""


DIGEST_LINES = 10
"""How many lines a digest section lists; the rest is counted (``more_lines``)."""


def more_lines(shown: int, total: int) -> list[str]:
    """Return the digest's "… and N more" line when a section lists only some of its items."""
    return [f"  … and {total - shown} more"] if total > shown else []


@dataclass(frozen=True)
class DigestDay:
    """What a digest section is asked for: the local day it is sent for, the time now, the zone."""

    day: date
    now: datetime
    tz: tzinfo


@dataclass(frozen=True)
class DigestPart:
    """One section's share of a digest: its lines, and the facts a model may summarise (no ids)."""

    lines: list[str]
    facts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DigestSection:
    """One section of the morning digest: a title and what collects its part for a day."""

    title: str
    collect: Callable[[DigestDay], DigestPart]


@dataclass(frozen=True)
class Deps:
    """What every spec may be built with; an agent takes what it needs and ignores the rest.

    Attributes:
        db: The workspace database (SQLAlchemy engine); None for specs built only to read their
            grammar, help and phrasings.
        knowledge: The knowledge store (memory and research need it).
        http: Makes an HTTP client (closed by whoever asked for it).
        model: Makes a model summariser for an agent (``agent=``, ``prompt=`` ...), or None when no
            model is configured.
        clock: The time now (aware).
        tz: The operator's zone (``COO_TIMEZONE``).
    """

    db: Engine | None = None
    knowledge: KnowledgeStore | None = None
    http: Callable[[], Any] | None = None
    model: Callable[..., Any] | None = None
    clock: Callable[[], datetime] = utcnow
    tz: tzinfo = UTC


@dataclass(frozen=True)
class AgentSpec:
    """Everything coo knows about one agent (see the module's docstring).

    Attributes:
        name: The agent's name, the first half of its operations' ``agent.operation`` keys.
        operations: What it offers (and its compensations); empty when it is not set up.
        jobs: The job kinds its operations enqueue, with their retry policies.
        enqueues: The job kinds its operations enqueue (each must be registered by some spec).
        rules: Its lines of the rule-based grammar, tried in order.
        help: Its lines of ``help``; every rule matches one of their examples and back.
        phrasings: How people say its commands, for the rule-based model's intents.
        checks: Extra policy rules (each may only make a verdict stricter).
        doctor: Its ``coo doctor`` checks.
        digest: Its sections of the morning digest.
        not_set_up: What to tell the user when its settings are missing (its operations are absent).
        prompt: What it tells the model planner, with a version.
    """

    name: str
    operations: tuple[Operation[Any], ...] = ()
    jobs: tuple[JobKind, ...] = ()
    enqueues: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    help: tuple[HelpEntry, ...] = ()
    phrasings: tuple[Phrasing, ...] = ()
    checks: tuple[PolicyCheck, ...] = ()
    doctor: tuple[DoctorCheck, ...] = ()
    digest: tuple[DigestSection, ...] = ()
    not_set_up: str | None = None
    prompt: AgentPrompt | None = None

    def __post_init__(self) -> None:
        for op in self.operations:
            if op.agent != self.name:
                raise ValueError(f"spec {self.name}: operation {op.key} belongs to another agent")


SpecFactory = Callable[[Deps, Any], AgentSpec]
"""``spec(deps, config)``: an agent's spec from the shared dependencies and its own typed config
(None: the agent's defaults, or not set up when it needs settings)."""
