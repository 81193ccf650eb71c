"""The web console's routes under /ui: sign-in, Inbox, Runs, Run, Backfill, Budget.

Server-rendered (Jinja2), plain HTML forms, no script. Every page but the sign-in pages needs a session
(else a redirect to /ui/signin, which says how to get a link); every POST needs the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from agents.errors import AgentError
from bot.app import App
from bot.ui import auth, svg, views
from bot.ui.door import press
from graph.errors import GraphError
from memory import ui_sessions

log = logging.getLogger(__name__)

P = auth.PREFIX
_env = Environment(loader=PackageLoader("bot.ui", "templates"), autoescape=select_autoescape(["html"]))


@dataclass
class Batch:
    """A backfill: failed runs retried in order, one after the other."""

    id: str
    by: str
    runs: list[str]
    state: dict[str, str] = field(default_factory=dict)  # run id -> queued | running | what it said
    done: bool = False


class Console:
    """The routes of one App's web console."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.batches: dict[str, Batch] = {}
        self.notes: dict[str, str] = {}  # one-line notices shown once after a redirect
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- helpers --------------------------------------------------------------------------------

    def page(self, name: str, request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
        """Render a template with what every page needs (the signed-in operator, the CSRF token, a notice)."""
        signed = ctx.pop("signed", None)
        html = _env.get_template(name).render(
            prefix=P,
            actor=signed[0] if signed else None,
            csrf=auth.csrf_of(signed[1]) if signed else "",
            said=self.notes.pop(request.query_params.get("note", ""), ""),
            **ctx,
        )
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",  # the sign-in link is in the URL
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'",
            },
        )

    async def signed(self, request: Request) -> tuple[str, str] | None:
        """Return (actor, session) of the signed-in operator, or None."""
        return await asyncio.to_thread(auth.who, self.app, request)

    @staticmethod
    def to_signin() -> RedirectResponse:
        """Redirect to the page that says how to get a sign-in link."""
        return RedirectResponse(f"{P}/signin", status_code=303)

    async def form(self, request: Request) -> dict[str, str]:
        """Read a urlencoded form (last value of each field)."""
        body = await request.body()
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    async def form_multi(self, request: Request) -> dict[str, list[str]]:
        """Read a urlencoded form (every value of each field)."""
        body = await request.body()
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    async def posted(self, request: Request) -> tuple[tuple[str, str], dict[str, list[str]]] | Response:
        """Check a POST: a session and its CSRF token; return (who, the form) or the refusal."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        form = await self.form_multi(request)
        if not auth.csrf_ok(signed[1], (form.get("csrf") or [""])[-1]):
            log.warning("ui: refused a form without its CSRF token from %s", signed[0])
            return HTMLResponse("This form has expired; reload the page and try again.", status_code=403)
        return signed, form

    def back(self, path: str, said: str) -> RedirectResponse:
        """Redirect to a page of the console with a one-line notice (kept here: a link cannot forge one)."""
        note = uuid.uuid4().hex
        self.notes[note] = said[:500]
        while len(self.notes) > 1000:
            self.notes.pop(next(iter(self.notes)))
        return RedirectResponse(f"{P}{path}?note={note}", status_code=303)

    # ---- sign-in --------------------------------------------------------------------------------

    async def signin(self, request: Request) -> Response:
        """Serve GET /ui/signin: how to get a link (no session needed)."""
        return self.page("signin.html", request, signed=await self.signed(request))

    async def login_form(self, request: Request) -> Response:
        """Serve GET /ui/login/{token}: a button that uses the link (opening it alone uses nothing)."""
        token = request.path_params["token"]
        nonce = auth.new_nonce()
        resp = self.page("login.html", request, token=token, nonce=nonce)
        auth.set_nonce(self.app, resp, nonce)
        return resp

    async def login(self, request: Request) -> Response:
        """Serve POST /ui/login/{token}: use the link once and set the session cookie."""
        form = await self.form(request)
        nonce = request.cookies.get(auth.LOGIN_COOKIE, "")
        if not nonce or not auth.csrf_ok_plain(nonce, form.get("nonce", "")):
            return self.page(
                "signin.html", request, 403, problem="That sign-in form has expired; open the link again."
            )
        got = await asyncio.to_thread(
            ui_sessions.redeem, self.app.db, request.path_params["token"], auth.SESSION_TTL
        )
        if got is None or not self.app.is_operator(got[1]):
            log.warning("ui: refused a sign-in link that is unknown, used or expired")
            return self.page(
                "signin.html",
                request,
                403,
                problem="That link has expired or was already used. Ask for a new one with /login.",
            )
        session, actor = got
        log.info("ui: %s signed in", actor)
        resp = RedirectResponse(f"{P}/inbox", status_code=303)
        auth.set_session(self.app, resp, session)
        resp.delete_cookie(auth.LOGIN_COOKIE, path=P)
        return resp

    async def logout(self, request: Request) -> Response:
        """Serve POST /ui/logout: end this session."""
        checked = await self.posted(request)
        if isinstance(checked, Response):
            return checked
        (_actor, session), _ = checked
        await asyncio.to_thread(ui_sessions.revoke, self.app.db, session)
        resp = RedirectResponse(f"{P}/signin", status_code=303)
        resp.delete_cookie(auth.COOKIE, path=P)
        return resp

    # ---- pages ----------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        """Redirect /ui/ to the inbox."""
        return RedirectResponse(f"{P}/inbox", status_code=303)

    async def inbox(self, request: Request) -> Response:
        """Serve GET /ui/inbox: the pending approvals, as the chat cards show them."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        cards = await asyncio.to_thread(views.inbox, self.app)
        return self.page("inbox.html", request, signed=signed, cards=cards, nav="inbox")

    async def decide(self, request: Request) -> Response:
        """Serve POST /ui/approvals/{id}/decide: Approve or Reject, as the chat buttons do."""
        checked = await self.posted(request)
        if isinstance(checked, Response):
            return checked
        (actor, _), form = checked
        verb = (form.get("decision") or [""])[-1]
        if verb not in ("approve", "reject"):
            return HTMLResponse("Unknown decision.", status_code=400)
        said = await press(self.app, actor, verb, request.path_params["approval"])
        return self.back("/inbox", said)

    def _edit_fields(self, approval: str) -> tuple[Any, list[dict[str, Any]]]:
        ap = self.app.approvals.get(approval)
        op = self.app.registry.get(f"{ap.action['agent']}.{ap.action['operation']}")
        current = ap.action["arguments"]
        fields = []
        for name, info in op.args.model_fields.items():
            value = current.get(name, "")
            kind = "text"
            ann = info.annotation
            if ann is bool:
                kind = "checkbox"
            elif ann in (int, float):
                kind = "number"
            elif not isinstance(value, str):
                kind = "json"
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            fields.append(
                {
                    "name": name,
                    "label": name.replace("_", " "),
                    "help": info.description or "",
                    "kind": "textarea" if kind == "text" and (len(text) > 80 or "\n" in text) else kind,
                    "value": text,
                    "checked": bool(value) if kind == "checkbox" else False,
                    "required": info.is_required(),
                }
            )
        return ap, fields

    async def edit_form(self, request: Request) -> Response:
        """Serve GET /ui/approvals/{id}/edit: a form generated from the operation's args model."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        try:
            ap, fields = await asyncio.to_thread(self._edit_fields, request.path_params["approval"])
        except (GraphError, AgentError) as exc:
            return self.back("/inbox", str(exc))
        if ap.status != "pending":
            return self.back("/inbox", f"{ap.id} is {ap.status}; nothing to edit.")
        return self.page("edit.html", request, signed=signed, ap=ap, fields=fields, nav="inbox", errors={})

    async def edit(self, request: Request) -> Response:
        """Serve POST /ui/approvals/{id}/edit: check the arguments by schema, then revise as chat's Edit does."""
        checked = await self.posted(request)
        if isinstance(checked, Response):
            return checked
        (actor, session), form = checked
        approval = request.path_params["approval"]
        try:
            ap, fields = await asyncio.to_thread(self._edit_fields, approval)
        except (GraphError, AgentError) as exc:
            return self.back("/inbox", str(exc))
        arguments: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f in fields:
            raw = (form.get(f"arg:{f['name']}") or [""])[-1]
            if f["kind"] == "checkbox":
                arguments[f["name"]] = bool(raw)
            elif f["kind"] in ("text", "textarea"):
                arguments[f["name"]] = raw
            elif raw == "" and not f["required"]:
                continue
            else:
                try:
                    arguments[f["name"]] = json.loads(raw)
                except json.JSONDecodeError:
                    arguments[f["name"]] = raw  # the schema says whether a plain string will do
            f["value"] = raw
        try:  # the schema first, so a mistake stays in the form; policy decides the new card afresh
            await asyncio.to_thread(
                self.app.registry.propose,
                f"{ap.action['agent']}.{ap.action['operation']}",
                arguments,
                run_id="check",
                index=0,
            )
        except AgentError as exc:
            errors["form"] = str(exc)
        if errors:
            return self.page(
                "edit.html",
                request,
                400,
                signed=(actor, session),
                ap=ap,
                fields=fields,
                nav="inbox",
                errors=errors,
            )
        said = await press(self.app, actor, "edit", approval, arguments=arguments)
        return self.back("/inbox", said)

    async def runs(self, request: Request) -> Response:
        """Serve GET /ui/runs: runs filtered by status, agent, channel and date; failed first."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        q = request.query_params

        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(q.get(name, ""))
            except ValueError:
                return None

        filters = {k: q.get(k, "") for k in ("status", "agent", "channel", "since", "until")}
        rows = await asyncio.to_thread(
            lambda: views.runs(
                self.app,
                status=filters["status"] if filters["status"] in views.STATUSES else "",
                agent=filters["agent"],
                channel=filters["channel"],
                since=day("since"),
                until=day("until"),
            )
        )
        channels, agents = await asyncio.to_thread(views.filter_choices, self.app)
        return self.page(
            "runs.html",
            request,
            signed=signed,
            rows=rows,
            filters=filters,
            statuses=views.STATUSES,
            channels=channels,
            agents=agents,
            nav="runs",
        )

    async def run(self, request: Request) -> Response:
        """Serve GET /ui/runs/{id}: the trace timeline and the checkpoints."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        view = await asyncio.to_thread(views.run, self.app, request.path_params["run"])
        if view is None:
            return self.page("missing.html", request, 404, signed=signed, what="run", nav="runs")
        return self.page("run.html", request, signed=signed, v=view, nav="runs")

    async def run_action(self, request: Request) -> Response:
        """Serve POST /ui/runs/{id}: Retry, Replay from a checkpoint, or Undo an effect."""
        checked = await self.posted(request)
        if isinstance(checked, Response):
            return checked
        (actor, _), form = checked
        run_id = request.path_params["run"]
        what = (form.get("do") or [""])[-1]
        if what == "retry":
            said = await press(self.app, actor, "retry", run_id)
        elif what == "replay":
            step = (form.get("step") or [""])[-1] or None
            said = await press(self.app, actor, "replay", run_id, step=step)
        elif what == "undo":
            said = await press(self.app, actor, "undo", (form.get("event") or [""])[-1])
        else:
            return HTMLResponse("Unknown action.", status_code=400)
        return self.back(f"/runs/{quote(run_id)}", said)

    async def backfill(self, request: Request) -> Response:
        """Serve GET /ui/backfill: the failed runs to select."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        rows = await asyncio.to_thread(views.failed_runs, self.app)
        batches = sorted(self.batches.values(), key=lambda b: b.id, reverse=True)[:5]
        return self.page("backfill.html", request, signed=signed, rows=rows, batches=batches, nav="backfill")

    async def backfill_start(self, request: Request) -> Response:
        """Serve POST /ui/backfill: retry the selected failed runs in order, in the background."""
        checked = await self.posted(request)
        if isinstance(checked, Response):
            return checked
        (actor, _), form = checked
        chosen = set(form.get("run") or [])
        if not chosen:
            return self.back("/backfill", "Select at least one failed run.")
        ordered = [r.id for r in await asyncio.to_thread(views.failed_runs, self.app, 1000) if r.id in chosen]
        batch = Batch(f"bf_{uuid.uuid4().hex[:12]}", actor, ordered, {r: "queued" for r in ordered})
        self.batches[batch.id] = batch
        task = asyncio.ensure_future(self._backfill(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return RedirectResponse(f"{P}/backfill/{batch.id}", status_code=303)

    async def _backfill(self, batch: Batch) -> None:
        for run_id in batch.runs:  # in order: a later run may depend on an earlier one's effect
            batch.state[run_id] = "running"
            try:
                said = await press(self.app, batch.by, "retry", run_id)
                status = await asyncio.to_thread(views.run_status, self.app, run_id)
                batch.state[run_id] = status if status and said.startswith("Retried") else f"{status}: {said}"
            except Exception:
                log.exception("ui: backfill of %s failed", run_id)
                batch.state[run_id] = "error: the failure was logged"
        batch.done = True

    async def backfill_batch(self, request: Request) -> Response:
        """Serve GET /ui/backfill/{id}: a backfill's progress (the page refreshes itself)."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        batch = self.batches.get(request.path_params["batch"])
        if batch is None:
            return self.page("missing.html", request, 404, signed=signed, what="backfill", nav="backfill")
        return self.page("batch.html", request, signed=signed, batch=batch, nav="backfill")

    async def budget(self, request: Request) -> Response:
        """Serve GET /ui/budget: spend per day and per agent (SVG), caps and the ladder's rungs."""
        signed = await self.signed(request)
        if signed is None:
            return self.to_signin()
        b = await asyncio.to_thread(views.budget, self.app)
        daily = Markup(svg.bars(b.days, title="Spend per day, last 30 days", cap=b.day_cap))  # noqa: S704 - built from numbers and escaped labels
        per_agent = [
            (
                a,
                Markup(
                    svg.bars(
                        series,
                        title=f"Spend per day of agent {a}",
                        cap=(b.agent_caps.get(a) or {}).get("daily"),
                    )
                ),
            )  # noqa: S704
            for a, series in b.agents.items()
        ]
        return self.page(
            "budget.html", request, signed=signed, b=b, daily=daily, per_agent=per_agent, nav="budget"
        )

    async def close(self) -> None:
        """Stop backfills in flight (shutdown)."""
        for t in list(self._tasks):
            t.cancel()

    def routes(self) -> list[BaseRoute]:
        """Return the routes, under /ui."""
        static = StaticFiles(directory=str(Path(__file__).parent / "static"))
        return [
            Mount(
                P,
                routes=[
                    Route("/", self.home),
                    Route("/signin", self.signin),
                    Route("/login/{token}", self.login_form, methods=["GET"]),
                    Route("/login/{token}", self.login, methods=["POST"]),
                    Route("/logout", self.logout, methods=["POST"]),
                    Route("/inbox", self.inbox),
                    Route("/approvals/{approval}/decide", self.decide, methods=["POST"]),
                    Route("/approvals/{approval}/edit", self.edit_form, methods=["GET"]),
                    Route("/approvals/{approval}/edit", self.edit, methods=["POST"]),
                    Route("/runs", self.runs),
                    Route("/runs/{run}", self.run, methods=["GET"]),
                    Route("/runs/{run}", self.run_action, methods=["POST"]),
                    Route("/backfill", self.backfill, methods=["GET"]),
                    Route("/backfill", self.backfill_start, methods=["POST"]),
                    Route("/backfill/{batch}", self.backfill_batch),
                    Route("/budget", self.budget),
                    Mount("/static", app=static, name="static"),
                ],
            )
        ]
