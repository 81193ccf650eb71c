"""The model planner: langchain-openai's ChatOpenAI with the agents' operations bound as tools.

A call is split in steps so the ladder can price it before it is made: ``prompt`` builds the exact
messages, ``estimate`` prices them offline, ``complete`` makes the call.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agents.contract import AgentPrompt
from agents.registry import Registry
from graph.errors import ModelBroken, ModelUnavailable
from graph.placement import agent_of
from graph.planner import Plan, PlanRequest, RawProposal, Usage
from graph.pricing import DEFAULT_PRICES, Price, cost_usd
from graph.prompts import planner_version, render_planner_context, render_planner_system
from graph.tokens import CharEstimate, TokenCounter, count_prompt

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)


_DATA = frozenset({"default", "examples", "enum", "const"})  # values, not schemas


def compact_schema(schema: Any) -> Any:
    """Return a JSON schema without what only costs tokens.

    Pydantic's titles each repeat their field's name, and an optional field's ``anyOf: [X, null],
    default: null`` says no more to a model than X left out of ``required``. Validation is the operation's own pydantic model, which still takes an explicit null.
    """
    if isinstance(schema, list):
        return [compact_schema(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: compact_schema(sub) for name, sub in value.items()}
        else:
            out[key] = value if key in _DATA else compact_schema(value)
    branches = out.get("anyOf")
    if "default" in out and out["default"] is None and isinstance(branches, list) and {"type": "null"} in branches:
        kept = [b for b in branches if b != {"type": "null"}]
        del out["default"]
        if len(kept) == 1 and isinstance(kept[0], dict):
            del out["anyOf"]
            out = {**kept[0], **out}
        else:
            out["anyOf"] = kept
    return out


def tool_specs(registry: Registry) -> list[dict[str, Any]]:
    """Return OpenAI function-tool specs for the operations planners may propose."""
    specs = []
    for op in registry.offered():
        schema = compact_schema(op.args.model_json_schema())
        specs.append(
            {
                "type": "function",
                "function": {"name": op.tool_name, "description": op.description, "parameters": schema},
            }
        )
    return specs


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Prompt:
    """One exact model call: the model, the messages, the tools and the sampling parameters."""

    model: str
    messages: list[BaseMessage]
    tools: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def pairs(self) -> list[tuple[str, str]]:
        """Return the messages as (role, text) pairs."""
        return [
            (m.type, m.content if isinstance(m.content, str) else json.dumps(m.content))
            for m in self.messages
        ]

    def prompt_hash(self) -> str:
        """Return a hash of everything the model is asked, whichever model answers."""
        return _sha256({"messages": self.pairs(), "tools": self.tools, "params": self.params})

    def key(self) -> str:
        """Return the response-cache key: the model and the exact prompt."""
        return _sha256({"model": self.model, "prompt": self.prompt_hash()})


@dataclass(frozen=True)
class Estimate:
    """What a call may cost at most: its counted input and its whole output allowance."""

    input_tokens: int
    output_tokens: int
    cost_usd: float


def message_record(msg: AIMessage) -> dict[str, Any]:
    """Return what the response cache keeps of an answer (its words and tool calls, not its usage)."""
    return {
        "content": msg.content if isinstance(msg.content, str) else "",
        "tool_calls": [dict(c) for c in msg.tool_calls],
        "invalid_tool_calls": [dict(c) for c in msg.invalid_tool_calls],
    }


_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos|nbsp);")


def clean_model_text(text: str) -> str:
    """Return model text as words, not markup.

    Servers that HTML-escape their output (``It&#39;s``) are unescaped once here, before the text is
    shown or stored as history, so the escaping never piles up turn after turn.
    """
    return html.unescape(text) if _ENTITY.search(text) else text


def broken_cause(status: int | None, detail: str = "") -> str:
    """Return, in one plain sentence, why an endpoint's answer is unusable and what to check."""
    detail = detail.lower()
    if status == 404:
        return "the endpoint answered 404: does OPENAI_BASE_URL end in /v1, and does it serve COO_MODEL?"
    if status in (401, 403):
        return f"the endpoint refused the key ({status}): check OPENAI_API_KEY"
    if status == 400 and ("context" in detail or "token" in detail):
        return "the prompt is longer than the model's context (400): give the server a larger context size"
    if status is not None:
        return f"the endpoint refused the request ({status}): run `coo doctor`"
    return "the endpoint's answer was not a chat completion: is OPENAI_BASE_URL an OpenAI-compatible /v1 URL?"


def plan_from_record(record: Mapping[str, Any], planner: str, usage: list[Usage]) -> Plan:
    """Turn an answer's tool calls into raw proposals (invalid calls become denied proposals)."""
    proposals = []
    for call in record.get("tool_calls") or []:
        args = call.get("args")
        if isinstance(args, str):  # some servers send arguments unparsed
            try:
                args = json.loads(args)
            except ValueError:
                args = {}
        proposals.append(RawProposal(str(call["name"]), args if isinstance(args, dict) else {}))
    for bad in record.get("invalid_tool_calls") or []:
        proposals.append(RawProposal(str(bad.get("name") or "invalid"), {"__invalid__": True}))
    content = clean_model_text(str(record.get("content") or ""))
    return Plan(proposals=proposals, reply=content.strip(), planner=planner, usage=usage)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            return float(headers[header]) / divisor
        except (KeyError, ValueError):
            continue
    return None


class ChatPlanner:
    """Plans with an OpenAI-compatible chat model."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None,
        registry: Registry,
        timeout_s: float = 60,
        max_retries: int = 2,
        max_output_tokens: int = 1024,
        prices: Mapping[str, Price] = DEFAULT_PRICES,
        counter: TokenCounter | None = None,
        local: bool = False,
        endpoint: str = "default",
    ) -> None:
        self.model_name = model
        self.endpoint = endpoint
        self._agents = registry.prompts()
        # Recorded on every run (and shown by `coo trace`): a placed endpoint's name replaces "openai".
        head = "openai" if endpoint == "default" else endpoint
        self.name = f"{head}:{model}@{planner_version(self._agents)}"
        self.prices = prices
        self.counter = counter or CharEstimate()
        self.max_output_tokens = max_output_tokens
        self.local = local
        self._tools = tool_specs(registry)
        # Imported here: langchain-openai and openai cost about a second of every start, and the
        # rule-based model (the embedded default) never builds this.
        from langchain_openai import ChatOpenAI

        self._llm = ChatOpenAI(
            model=model,
            api_key=api_key or "unset",  # type: ignore[arg-type]
            base_url=base_url,
            use_responses_api=False,
            temperature=0,
            max_tokens=max_output_tokens,  # type: ignore[call-arg]
            timeout=timeout_s,
            max_retries=max_retries,
            # llama.cpp and other local servers ignore ``max_completion_tokens`` (what langchain-openai
            # sends): without ``max_tokens`` a weak model can generate for minutes.
            extra_body={"max_tokens": max_output_tokens} if local else None,
        )
        self._bound = self._bind(self._tools)

    def _bind(self, tools: list[dict[str, Any]]) -> Any:
        # ``tool_choice`` is sent explicitly: llama.cpp's function-calling format drops every tool when
        # it is absent, so a local model could never act. No tools (a chat line): a plain completion.
        return self._llm.bind_tools(tools, tool_choice="auto") if tools else self._llm

    def offered(self, agents: tuple[str, ...] | None) -> tuple[list[AgentPrompt], list[dict[str, Any]]]:
        """Return the agents' notes and tools offered to a request routed to ``agents`` (None: all)."""
        if agents is None:
            return self._agents, self._tools
        wanted = set(agents)
        notes = [a for a in self._agents if a.agent in wanted]
        return notes, [t for t in self._tools if agent_of(t["function"]["name"]) in wanted]

    def fixed_tokens(self, agents: tuple[str, ...] | None) -> int:
        """Count what every call routed to ``agents`` carries before any context: instructions and tools."""
        notes, tools = self.offered(agents)
        return count_prompt(self.counter, [("system", render_planner_system(notes))], tools)

    def prompt(self, request: PlanRequest) -> Prompt:
        """Return the exact call this request makes.

        The stable parts come first (the instructions and the routed agents' notes and tools, in registry
        order), then the context, the history and the request, so servers can reuse a cached prefix.
        """
        notes, tools = self.offered(request.agents)
        messages: list[BaseMessage] = [SystemMessage(render_planner_system(notes))]
        if request.context:
            messages.append(SystemMessage(render_planner_context(request.context)))
        for role, text in request.history:
            messages.append(HumanMessage(text) if role == "user" else AIMessage(text))
        messages.append(HumanMessage(request.text))
        params = {"temperature": 0, "max_tokens": self.max_output_tokens}
        return Prompt(self.model_name, messages, tools, params)

    def estimate(self, prompt: Prompt) -> Estimate:
        """Price a call before making it: counted input, and the full output allowance."""
        inp = count_prompt(self.counter, prompt.pairs(), prompt.tools)
        out = self.max_output_tokens
        return Estimate(inp, out, cost_usd(self.model_name, inp, out, 0, self.prices))

    def complete(self, prompt: Prompt) -> tuple[Plan, dict[str, Any]]:
        """Make the call; return its plan (priced from the usage reported) and the answer to cache.

        Raises:
            ModelUnavailable: On 429, 5xx, a timeout or no connection (after the client's retries).
            ModelBroken: On any other 4xx, or an answer that is not a chat completion (HTML, JSON of
                another shape, no choices), or an empty answer: retrying would fail the same way.
        """
        import openai  # loaded by the constructor's ChatOpenAI already: a lookup

        bound = self._bound if prompt.tools == self._tools else self._bind(prompt.tools)
        try:
            msg = bound.invoke(prompt.messages)
        except openai.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise ModelUnavailable(self.model_name, exc.status_code, _retry_after(exc)) from exc
            raise ModelBroken(
                self.model_name, exc.status_code, broken_cause(exc.status_code, str(exc))
            ) from exc
        except openai.APIConnectionError as exc:  # includes timeouts
            raise ModelUnavailable(self.model_name, None) from exc
        except (ValueError, TypeError, LookupError, AttributeError, openai.OpenAIError) as exc:
            # What an OpenAI-compatible client raises on a body it cannot read: HTML, another JSON shape.
            log.warning("model %s answered unreadably: %s", self.model_name, exc, exc_info=True)
            raise ModelBroken(self.model_name, None, broken_cause(None)) from exc
        if not isinstance(msg, AIMessage):
            raise ModelBroken(self.model_name, None, broken_cause(None))
        usage_meta: Any = msg.usage_metadata or {}
        inp, out = int(usage_meta.get("input_tokens", 0)), int(usage_meta.get("output_tokens", 0))
        cached = int((usage_meta.get("input_token_details") or {}).get("cache_read", 0) or 0)
        cost = cost_usd(self.model_name, inp, out, cached, self.prices)
        usage = [Usage(self.model_name, inp, out, cost, cached_tokens=cached)]
        record = message_record(msg)
        return plan_from_record(record, self.name, usage), record

    def plan(self, request: PlanRequest) -> Plan:
        """Ask the model and turn its tool calls into raw proposals."""
        return self.complete(self.prompt(request))[0]
