"""`coo doctor`: check every configured part and say in plain words what to fix."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from agents.spec import Finding
from bot.settings import Settings
from memory.db import is_postgres, make_engine
from memory.engines import ensure_data_dir, where
from memory.errors import SetupError

MAX_SKEW_S = 60.0


Check = Finding
"""One finding (``agents.spec.Finding``: agents' doctor checks return the same)."""


def _skew(response: httpx.Response) -> float | None:
    date = response.headers.get("date")
    if not date:
        return None
    try:
        return abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def check_settings(s: Settings) -> Check:
    """Check that the settings hang together."""
    problems = s.channel_problems()
    if problems:
        return Check("settings", False, " ".join(problems), "set the variables named above")
    return Check("settings", True, "consistent")


def check_data_dir(s: Settings) -> Check:
    """Say where the data lives (COO_DATA_DIR), and check it can be written."""
    try:
        ensure_data_dir(s.coo_data_dir)
    except SetupError as exc:
        return Check("data", False, exc.what, exc.fix)
    return Check("data", True, f"{s.coo_data_dir} (COO_DATA_DIR)")


def check_database(s: Settings) -> Check:
    """Connect to the database and run a query."""
    if not s.database_url:
        try:
            ensure_data_dir(s.coo_data_dir)
        except SetupError:  # check_data_dir names the path; DATABASE_URL is not to blame
            return Check(
                "database", False, "SQLite in COO_DATA_DIR, which cannot be written", "see data above"
            )
    url = s.database()
    kind = "PostgreSQL" if is_postgres(url) else "SQLite"
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        from bot.commands import deliveries_line

        backlog = deliveries_line(engine)
        engine.dispose()
    except SetupError as exc:
        return Check("database", False, exc.what, exc.fix)
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure
        return Check(
            "database", False, f"{kind}: {type(exc).__name__}", "check DATABASE_URL and that the server is up"
        )
    at = f" at {where(url)}" if is_postgres(url) else ""
    return Check("database", True, f"{kind} reachable{at}. {backlog}")


def check_broker(s: Settings) -> Check:
    """Ping Redis when it is the broker."""
    if not s.redis_url:
        return Check("broker", True, "embedded (no server needed)")
    try:
        import redis

        redis.Redis.from_url(s.redis_url, socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return Check("broker", False, f"Redis: {type(exc).__name__}", "check REDIS_URL and that Redis is up")
    return Check("broker", True, "Redis reachable")


PING_TOOL = {
    "type": "function",
    "function": {
        "name": "ping",
        "description": "Answer the health check.",
        "parameters": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
    },
}


def _completion(
    s: Settings, client: httpx.Client, base: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[dict[str, Any] | None, str]:
    """POST one chat completion; return its JSON, or None and what was wrong with the answer."""
    limit = body.pop("limit")
    body["max_tokens" if s.model_local else "max_completion_tokens"] = limit  # llama.cpp reads max_tokens
    try:
        r = client.post(f"{base}/chat/completions", headers=headers, json={"model": s.coo_model, **body})
    except httpx.HTTPError as exc:
        return None, f"{base} unreachable ({type(exc).__name__})"
    if r.status_code >= 400:
        from graph.chat_model import broken_cause  # noqa: PLC0415 (langchain: load only when checking)

        return None, broken_cause(r.status_code, r.text[:500])
    if not r.headers.get("content-type", "").startswith("application/json"):
        return None, f"the endpoint answered {r.headers.get('content-type') or 'something'}, not JSON"
    try:
        data = r.json()
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None, "the endpoint's answer is not a chat completion"
    if not isinstance(message, dict):
        return None, "the endpoint's answer is not a chat completion"
    return data, ""


def check_model(s: Settings, client: httpx.Client) -> Check:
    """Check the model for real: it is reachable, serves COO_MODEL, calls a tool, and fits the prompt."""
    if not s.model_configured:
        return Check("model", True, "rule-based (no API key set)")
    base = (s.openai_base_url or "https://api.openai.com/v1").rstrip("/")
    headers = {"Authorization": f"Bearer {s.openai_api_key.get_secret_value()}"} if s.openai_api_key else {}
    fix_url = "check OPENAI_BASE_URL (an OpenAI-compatible URL ending in /v1)"
    try:
        r = client.get(f"{base}/models", headers=headers)
    except httpx.HTTPError as exc:
        return Check("model", False, f"{base} unreachable ({type(exc).__name__})", "check OPENAI_BASE_URL")
    if r.status_code == 401:
        return Check("model", False, "the endpoint refused the key (401)", "check OPENAI_API_KEY")
    if r.status_code >= 400:
        return Check("model", False, f"/models answered {r.status_code}", fix_url)
    if not r.headers.get("content-type", "").startswith("application/json"):
        return Check("model", False, f"{base}/models is not an OpenAI-compatible API (not JSON)", fix_url)
    try:
        names = {m.get("id") for m in r.json().get("data", []) if isinstance(m, dict)}
    except (ValueError, AttributeError, TypeError):
        return Check("model", False, f"{base}/models answered JSON of another shape", fix_url)
    if names and s.coo_model not in names:
        return Check(
            "model", False, f"model {s.coo_model!r} is not served there", "set COO_MODEL to one it serves"
        )
    # One real tool call: the planner only works if the model calls tools when asked to. Servers that
    # refuse ``tool_choice: "required"`` (llama-cpp-python's function-calling format takes only "auto" or
    # a named function) are asked again with the tool named.
    ping = {
        "messages": [{"role": "user", "content": "Call the ping tool with ok=true."}],
        "tools": [PING_TOOL],
        "temperature": 0,
        "limit": 64,
    }
    data, wrong = _completion(s, client, base, headers, {**ping, "tool_choice": "required"})
    if data is None and not wrong.startswith(base):  # it answered, but not to "required"
        named = {"type": "function", "function": {"name": "ping"}}
        data, _ = _completion(s, client, base, headers, {**ping, "tool_choice": named})
    if data is None:
        return Check("model", False, wrong, fix_url)
    calls = data["choices"][0]["message"].get("tool_calls") or []
    if not (isinstance(calls, list) and calls and (calls[0].get("function") or {}).get("name") == "ping"):
        return Check(
            "model",
            False,
            f"{s.coo_model} did not answer with a tool call when one was required",
            "use a model that supports tool calling (the rule-based model still answers the commands)",
        )
    # The planner's real prompt (its instructions and every tool) must fit the model's context.
    from agents.catalog import default_registry  # noqa: PLC0415
    from graph.chat_model import tool_specs  # noqa: PLC0415
    from graph.prompts import render_planner_system  # noqa: PLC0415

    registry = default_registry()
    tools = tool_specs(registry)
    # A named tool, the one with the fewest arguments: the prompt holds every tool, and the answer stays
    # within the token limit (llama.cpp's "auto" ignores max_tokens while it writes a call's arguments).
    simplest = min(tools, key=lambda t: len(json.dumps(t["function"]["parameters"])))
    data, wrong = _completion(
        s,
        client,
        base,
        headers,
        {
            "messages": [
                {"role": "system", "content": render_planner_system(registry.prompts())},
                {"role": "user", "content": "balance"},
            ],
            "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": simplest["function"]["name"]}},
            "temperature": 0,
            "limit": 1,
        },
    )
    if data is None:
        return Check(
            "model", False, f"the planner's prompt failed: {wrong}", "run the model with a larger context"
        )
    used = (data.get("usage") or {}).get("prompt_tokens")
    size = f"; the planner's prompt is {used:,} tokens" if isinstance(used, int) else ""
    hint = ""
    if not s.model_local and s.model_url_looks_local:
        hint = " (it looks local: COO_MODEL_LOCAL=true makes it free and fail fast)"
    return Check("model", True, f"{base} serves {s.coo_model} and calls tools{size}{hint}")


def check_placement(s: Settings, client: httpx.Client) -> Check | None:
    """Check COO_PLACEMENT: agents that exist, endpoints that are named and answer, sensitive ones local."""
    if not s.coo_placement:
        return None
    from agents.catalog import default_registry  # noqa: PLC0415
    from graph.placement import known_agents  # noqa: PLC0415

    placement = s.placement()
    # The agents every App has, and those it adds once configured (memory, research, email, calendar, hooks).
    known = {
        *known_agents(default_registry().offered()),
        "knowledge",
        "research",
        "outreach",
        "calendar",
        "webhooks",
    }
    problems = placement.problems(known, s.model_local)
    for name, spec in placement.endpoints.items():
        base = spec.base_url.rstrip("/")
        try:
            r = client.get(f"{base}/models")
            ok = r.status_code < 400 and r.headers.get("content-type", "").startswith("application/json")
        except httpx.HTTPError as exc:
            problems.append(f"endpoint {name!r} at {base} is unreachable ({type(exc).__name__})")
            continue
        if not ok:
            problems.append(
                f"endpoint {name!r}: {base}/models is not an OpenAI-compatible API ({r.status_code})"
            )
    if problems:
        return Check("placement", False, "; ".join(problems), "fix COO_PLACEMENT (see README, Placement)")
    sensitive = ", ".join(placement.sensitive()) or "none"
    queues = ", ".join(placement.queues()) or "the job kinds' own"
    return Check(
        "placement",
        True,
        f"{len(placement.agents)} agent(s) placed; sensitive: {sensitive}; queues: {queues}",
    )


def check_slack(s: Settings, client: httpx.Client) -> Check | None:
    """Call auth.test with the bot token."""
    if not s.slack_bot_token:
        return None
    base = (s.slack_api_url or "https://slack.com/api/").rstrip("/")
    try:
        r = client.post(
            f"{base}/auth.test", headers={"Authorization": f"Bearer {s.slack_bot_token.get_secret_value()}"}
        )
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Check(
            "slack", False, f"auth.test failed ({type(exc).__name__})", "check SLACK_API_URL and the network"
        )
    if not body.get("ok"):
        return Check(
            "slack",
            False,
            f"auth.test: {body.get('error')}",
            "check SLACK_BOT_TOKEN (xoxb-…) in the app's OAuth page",
        )
    return _with_skew(Check("slack", True, f"bot {body.get('user')} in team {body.get('team')}"), r)


def check_telegram(s: Settings, client: httpx.Client) -> Check | None:
    """Call getMe, and compare the registered webhook with TELEGRAM_WEBHOOK_URL."""
    if not s.telegram_bot_token:
        return None
    base = f"{s.telegram_api_url}{s.telegram_bot_token.get_secret_value()}"
    try:
        r = client.get(f"{base}/getMe")
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Check(
            "telegram",
            False,
            f"getMe failed ({type(exc).__name__})",
            "check TELEGRAM_API_URL and the network",
        )
    if not body.get("ok"):
        return Check(
            "telegram", False, f"getMe: {body.get('description')}", "check TELEGRAM_BOT_TOKEN from @BotFather"
        )
    me = body["result"].get("username")
    if s.telegram_webhook_url:
        info = client.get(f"{base}/getWebhookInfo").json().get("result", {})
        if info.get("url") != s.telegram_webhook_url:
            return Check(
                "telegram",
                False,
                f"@{me}: webhook is {info.get('url') or 'not set'!r}, expected {s.telegram_webhook_url!r}",
                "start `coo serve` (it registers the webhook) or fix TELEGRAM_WEBHOOK_URL",
            )
    return _with_skew(Check("telegram", True, f"bot @{me}"), r)


def _with_skew(check: Check, response: httpx.Response) -> Check:
    skew = _skew(response)
    if skew is not None and skew > MAX_SKEW_S:
        return Check(
            check.name,
            False,
            f"{check.detail}; clock is {skew:.0f} s off",
            "sync the clock (NTP): signed requests fail past 5 minutes",
        )
    return check


def check_agents(s: Settings) -> list[Check]:
    """Run every agent's own checks (its spec's ``doctor``), on the specs the App builds from ``s``."""
    from agents.catalog import build_specs  # noqa: PLC0415
    from agents.spec import Deps  # noqa: PLC0415
    from bot.agents import agent_configs  # noqa: PLC0415
    from bot.calendars import build_calendar  # noqa: PLC0415

    with ExitStack() as stack:  # the agents' clients, closed once checked
        deps = Deps(tz=ZoneInfo(s.coo_timezone))
        specs = build_specs(deps, agent_configs(s, build_calendar(s, stack)))
        return [c for c in (check() for spec in specs for check in spec.doctor) if c is not None]


def run_checks(s: Settings, client: httpx.Client | None = None) -> list[Check]:
    """Run every check that applies."""
    owned = client is None
    client = client or httpx.Client(timeout=10)
    try:
        checks: list[Callable[[], Any]] = [
            lambda: check_settings(s),
            lambda: check_data_dir(s),
            lambda: check_database(s),
            lambda: check_broker(s),
            lambda: check_model(s, client),
            lambda: check_placement(s, client),
            lambda: check_slack(s, client),
            lambda: check_telegram(s, client),
        ]
        return [c for c in (f() for f in checks) if c is not None] + check_agents(s)
    finally:
        if owned:
            client.close()


def report(checks: list[Check]) -> str:
    """Render findings as lines."""
    lines = []
    for c in checks:
        lines.append(
            f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}"
            + (f"\n     fix: {c.fix}" if c.fix and not c.ok else "")
        )
    bad = sum(not c.ok for c in checks)
    lines.append("All good." if not bad else f"{bad} problem(s) to fix.")
    return "\n".join(lines)
