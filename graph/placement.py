"""Routing and placement: which agent a request is for, which model endpoint plans it, which queue runs it.

A request is routed to its agent(s) first, by the intents' nearest examples (``graph.intents``, no model
call): the agents whose intents come within ``band`` of the nearest, or none for a line near no intent
(chat). The model is then offered only those agents' tools, and is asked by the endpoint placed for them.

``COO_PLACEMENT`` (JSON, TOML, or a path to a ``.json``/``.toml`` file) says, per agent, which endpoint
plans for it, which Dramatiq queue runs its jobs, and whether it is ``sensitive``::

    [endpoints.laptop]            # "default" is OPENAI_BASE_URL + COO_MODEL (local: COO_MODEL_LOCAL)
    base_url = "http://127.0.0.1:8080/v1"
    model = "smollm2"
    local = true

    [agents.bookkeeping]
    endpoint = "laptop"
    queue = "local"
    sensitive = true

A sensitive agent's workspace rows, memories and tool results are never sent to an endpoint that is not
marked local: context assembly (``graph.context``) withholds them and says so in the trace.
"""

from __future__ import annotations

import json
import threading
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

K = TypeVar("K")
DEFAULT = "default"  # the endpoint of OPENAI_BASE_URL/COO_MODEL, and Dramatiq's default queue
QUEUE_PATTERN = r"^[A-Za-z0-9_.-]{1,40}$"


class EndpointSpec(BaseModel):
    """A model endpoint other than the default one."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(pattern=r"^https?://[^\s/]+")
    model: str = Field(min_length=1)
    local: bool = False  # on the operator's machine or network: free, fails fast, may see sensitive data
    api_key: SecretStr | None = None


class AgentPlacement(BaseModel):
    """Where one agent plans and runs."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = DEFAULT
    queue: str | None = Field(default=None, pattern=QUEUE_PATTERN)  # None: the job kind's own queue
    sensitive: bool = False


class Placement(BaseModel):
    """The whole ``COO_PLACEMENT``: named endpoints, and each agent's placement."""

    model_config = ConfigDict(extra="forbid")

    endpoints: dict[str, EndpointSpec] = Field(default_factory=dict)
    agents: dict[str, AgentPlacement] = Field(default_factory=dict)

    def of(self, agent: str) -> AgentPlacement:
        """Return an agent's placement (the defaults when it has none)."""
        return self.agents.get(agent) or AgentPlacement()

    def queue_of(self, agent: str) -> str | None:
        """Return the queue that runs an agent's jobs (None: its job kinds' own)."""
        return self.of(agent).queue

    def sensitive(self) -> tuple[str, ...]:
        """Return the sensitive agents, sorted."""
        return tuple(sorted(a for a, p in self.agents.items() if p.sensitive))

    def queues(self) -> tuple[str, ...]:
        """Return the queues the placement names, sorted."""
        return tuple(sorted({p.queue for p in self.agents.values() if p.queue}))

    def is_local(self, endpoint: str, default_local: bool) -> bool:
        """Tell whether an endpoint is marked local."""
        if endpoint == DEFAULT or endpoint not in self.endpoints:
            return default_local
        return self.endpoints[endpoint].local

    def problems(self, known_agents: Iterable[str], default_local: bool) -> list[str]:
        """Return what is wrong with the placement, one sentence each ([] when nothing)."""
        known = set(known_agents)
        out = []
        for agent, p in sorted(self.agents.items()):
            if known and agent not in known:
                out.append(f"agent {agent!r} is not one of {', '.join(sorted(known))}")
            if p.endpoint != DEFAULT and p.endpoint not in self.endpoints:
                out.append(f"agent {agent!r} names endpoint {p.endpoint!r}, which is not under endpoints")
            elif p.sensitive and not self.is_local(p.endpoint, default_local):
                out.append(
                    f"agent {agent!r} is sensitive but its endpoint {p.endpoint!r} is not marked local "
                    "(its data is withheld from it, so it plans blind): place it on a local endpoint"
                )
        return out


def parse_placement(value: str | None) -> Placement:
    """Read ``COO_PLACEMENT``: JSON, TOML, or a path to a ``.json``/``.toml`` file ("" or None: none).

    Raises:
        ValueError: The value or file cannot be read, or does not describe a placement.
    """
    text = (value or "").strip()
    if not text:
        return Placement()
    source = "COO_PLACEMENT"
    if not text.startswith("{") and "\n" not in text and "=" not in text:
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"COO_PLACEMENT names {path}, which cannot be read ({exc.strerror})") from exc
        source = str(path)
    try:
        data: Any = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{source} is neither JSON nor TOML: {exc}") from exc
    try:
        return Placement.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ValueError(f"{source}: {where}: {first['msg']}") from exc


# Whose data a workspace row is, by its ref's kind (``ledger:9``).
WORKSPACE_AGENTS = {
    "ledger": "bookkeeping",
    "invoice": "bookkeeping",
    "customer": "crm",
    "project": "crm",
    "ticket": "crm",
    "draft": "drafts",
    "task": "tasks",
}
# Whose data a knowledge item is, by its kind; outcome notes quote any agent's results, so they are
# withheld whenever any agent is.
KNOWLEDGE_AGENTS = {"note": "knowledge", "memory": "knowledge", "document": "research"}


def withheld_row(ref: str, withheld: Sequence[str]) -> bool:
    """Tell whether a workspace row belongs to one of the ``withheld`` agents (unknown kinds: withheld)."""
    if not withheld:
        return False
    agent = WORKSPACE_AGENTS.get(ref.split(":", 1)[0])
    return agent is None or agent in withheld


def withheld_item(kind: str, withheld: Sequence[str]) -> bool:
    """Tell whether a knowledge item of ``kind`` may carry a ``withheld`` agent's data."""
    if not withheld:
        return False
    agent = KNOWLEDGE_AGENTS.get(kind)
    return agent is None or agent in withheld


def agent_of(key: str) -> str:
    """Return the agent of an operation key or tool name (``bookkeeping.balance``, ``crm__add``)."""
    return key.replace("__", ".", 1).split(".", 1)[0]


@dataclass(frozen=True)
class Route:
    """Where a request goes.

    Attributes:
        agents: The agents it was routed to, nearest first (empty: chat, no tools offered).
        endpoint: The endpoint that plans it.
        local: Whether that endpoint is marked local.
        withheld: Sensitive agents whose data the endpoint must not see.
        score: The nearest intent's similarity.
    """

    agents: tuple[str, ...]
    endpoint: str = DEFAULT
    local: bool = False
    withheld: tuple[str, ...] = ()
    score: float = 0.0


Scorer = Callable[[str], Sequence[tuple[str, float]]]  # line → (operation key, score), best first


@dataclass
class Router:
    """Routes lines to agents and endpoints; remembers the last lines it routed (context and ladder ask).

    Args:
        scorer: The intents' scores for a line (``IntentIndex.nearest``), or None to offer every agent.
        agents: The agents the registry has (routes never name others).
        placement: ``COO_PLACEMENT``.
        default_local: Whether the default endpoint is marked local (COO_MODEL_LOCAL).
        floor: A line whose nearest intent scores below this is chat: no agent.
        band: Agents whose intents score within this of the nearest are offered too.
        always: Agents no intent names, offered with any routed agent.
    """

    scorer: Scorer | None
    agents: tuple[str, ...]
    placement: Placement = field(default_factory=Placement)
    default_local: bool = False
    floor: float = 0.35
    band: float = 0.12
    always: tuple[str, ...] = ()  # agents without intents (a general read such as workspace search)
    _memo: dict[str, Route] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def route(self, text: str) -> Route:
        """Return where a line goes."""
        with self._lock:
            hit = self._memo.get(text)
        if hit is not None:
            return hit
        route = self._route(text)
        with self._lock:
            if len(self._memo) > 256:
                self._memo.clear()
            self._memo[text] = route
        return route

    def _route(self, text: str) -> Route:
        if self.scorer is None:  # not routed: every agent's tools, on the default endpoint
            return self.place(self.agents, endpoint=DEFAULT)
        scored = [(agent_of(k), s) for k, s in self.scorer(text) if agent_of(k) in self.agents]
        if not scored or scored[0][1] < self.floor:
            return self.place((), scored[0][1] if scored else 0.0)
        top = scored[0][1]
        near = tuple(dict.fromkeys([*(a for a, s in scored if s >= top - self.band), *self.always]))
        return self.place(near, top)

    def place(self, agents: tuple[str, ...], score: float = 0.0, endpoint: str | None = None) -> Route:
        """Return the route for agents: the first one's endpoint plans, and what it may not see."""
        if endpoint is None:
            endpoint = self.placement.of(agents[0]).endpoint if agents else DEFAULT
        local = self.placement.is_local(endpoint, self.default_local)
        withheld = () if local else self.placement.sensitive()
        return Route(agents, endpoint, local, withheld, score)


def intent_scorer(nearest: Callable[[str], Sequence[Any]]) -> Scorer:
    """Adapt ``IntentIndex.nearest`` (scored phrasings) to a Scorer (operation keys and scores)."""

    def score(text: str) -> list[tuple[str, float]]:
        return [(s.phrasing.key, s.score) for s in nearest(text) if s.phrasing.kind != "chat"]

    return score


def known_agents(offered: Iterable[Any]) -> tuple[str, ...]:
    """Return the agents of the registry's offered operations, in registry order."""
    return tuple(dict.fromkeys(op.agent for op in offered))


def placed_kinds(kinds: Iterable[K], placement: Placement) -> list[K]:
    """Return job kinds with the queue their agent is placed on (``outreach.send_email``: outreach's)."""
    out = []
    for kind in kinds:
        queue = placement.queue_of(agent_of(str(getattr(kind, "name", ""))))
        out.append(replace(kind, queue=queue) if queue else kind)  # type: ignore[type-var]
    return out
