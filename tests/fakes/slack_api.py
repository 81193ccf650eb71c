"""A loopback fake of the Slack Web API (and of response_url) that records every call.

Point the real slack_sdk client at ``<url>/api/``. It answers like Slack: ``{"ok": true, ...}`` with a
fresh ``ts`` for chat.postMessage, ``message_not_found`` for an update of an unknown message,
``invalid_auth`` for a wrong token, and it refuses what Slack refuses (more than 50 blocks, a section
over 3000 characters, a header over 150, text over 40,000). ``rate_limit[method] = n`` answers the next
n calls of a method with HTTP 429 and ``Retry-After: 0``. ``/response/<id>`` stands in for a slash
command's or an action's response_url.

Socket Mode: ``apps.connections.open`` (with the app token) returns ``ws://…/socket``; the fake says
``hello`` on connect, `push` sends an envelope to the connected client, and the client's acks are
recorded in ``socket_acks``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    token: str | None = None


@dataclass
class FakeSlack:
    """The fake's state: calls in arrival order and the messages as they now stand."""

    token: str = "xoxb-test-token"
    uploads: dict[str, bytes] = field(default_factory=dict)
    app_token: str = "xapp-test-token"
    bot_user: str = "UBOT"
    bot_id: str = "BBOT"
    team: str = "T111"
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rate_limit: dict[str, int] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _socket: tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]] | None = None

    # ---- what tests look at ---------------------------------------------------------------------

    def to(self, method: str) -> list[dict[str, Any]]:
        """Return the params of every call of one method, in order."""
        return [c.params for c in list(self.calls) if c.method == method]

    @property
    def socket_connected(self) -> bool:
        """Tell whether a Socket Mode client is connected."""
        return self._socket is not None

    def push(self, kind: str, payload: dict[str, Any], retry_attempt: int = 0) -> str:
        """Send a Socket Mode envelope (``events_api``, ``interactive``, ``slash_commands``); return its id."""
        assert self._socket is not None, "no Socket Mode client is connected"
        loop, queue = self._socket
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        loop.call_soon_threadsafe(queue.put_nowait, envelope)
        return envelope_id

    def reset(self) -> None:
        """Forget the calls so far (messages stay, as they would in Slack)."""
        self.calls.clear()

    # ---- the ASGI app ---------------------------------------------------------------------------

    def app(self) -> Starlette:
        """Return the ASGI app."""
        return Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{rid}", self._response_url, methods=["POST"]),
                Route("/upload/{fid}", self._upload, methods=["POST"]),
                WebSocketRoute("/socket", self._websocket),
            ]
        )

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/json"):
            params.update(await request.json())
        else:  # form-encoded, as slack_sdk sends auth.test and friends
            params.update(parse_qsl((await request.body()).decode()))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params = await self._params(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        with self._lock:
            self.calls.append(Call(method, params, token))
            limited = self.rate_limit.get(method, 0)
            if limited:
                self.rate_limit[method] = limited - 1
        if limited:
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "0"}
            )
        if token != (self.app_token if method == "apps.connections.open" else self.token):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if method == "files.getUploadURLExternal":  # the first step of files_upload_v2
            fid = f"F{len(self.uploads) + 1:08d}"
            self.uploads[fid] = b""
            return JSONResponse(
                {
                    "ok": True,
                    "file_id": fid,
                    "upload_url": f"{str(request.base_url).rstrip('/')}/upload/{fid}",
                }
            )
        if method == "apps.connections.open":
            ws = str(request.base_url).replace("http://", "ws://").rstrip("/")
            return JSONResponse({"ok": True, "url": f"{ws}/socket"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        return JSONResponse(handler(params))

    async def _upload(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            body = b"".join([await f.read() for f in form.values() if hasattr(f, "read")])  # type: ignore[misc]
            await form.close()
        self.uploads[request.path_params["fid"]] = body
        return Response("OK - uploaded")

    def _files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(p["files"]) if isinstance(p.get("files"), str) else p.get("files", [])
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    async def _response_url(self, request: Request) -> Response:
        with self._lock:
            self.calls.append(Call(f"response_url:{request.path_params['rid']}", await request.json()))
        return Response("ok")

    async def _websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._socket = (asyncio.get_running_loop(), queue)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A111"}})

        async def forward() -> None:
            while True:
                await ws.send_json(await queue.get())

        sender = asyncio.ensure_future(forward())
        try:
            while True:
                self.socket_acks.append(json.loads(await ws.receive_text()))
        except WebSocketDisconnect:
            pass
        finally:
            self._socket = None
            sender.cancel()

    # ---- methods --------------------------------------------------------------------------------

    def _auth_test(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://coo-test.slack.com/",
            "team": "coo test",
            "user": "coo",
            "team_id": self.team,
            "user_id": self.bot_user,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _problem(self, p: dict[str, Any]) -> str | None:
        blocks = p.get("blocks") or []
        text = p.get("text") or ""
        if not p.get("channel"):
            return "channel_not_found"
        if not text and not blocks:
            return "no_text"
        if len(text) > 40_000:
            return "msg_too_long"
        if len(blocks) > 50:
            return "invalid_blocks"
        for b in blocks:
            t = (b.get("text") or {}).get("text", "")
            if (b["type"] == "section" and len(t) > 3000) or (b["type"] == "header" and len(t) > 150):
                return "invalid_blocks"
        return None

    def _chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        if problem := self._problem(p):
            return {"ok": False, "error": problem}
        n = next(self._ts)
        ts = f"{1700000000 + n}.{n:06d}"
        msg = {"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "ts": ts, **p}
        self.messages[(p["channel"], ts)] = msg
        return {"ok": True, "channel": p["channel"], "ts": ts, "message": msg}

    def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (p.get("channel", ""), p.get("ts", ""))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        if problem := self._problem(p):
            return {"ok": False, "error": problem}
        self.messages[key] = {**self.messages[key], "text": p.get("text", ""), "blocks": p.get("blocks", [])}
        return {"ok": True, "channel": key[0], "ts": key[1], "text": p.get("text", "")}

    def _chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        if problem := self._problem(p):
            return {"ok": False, "error": problem}
        if not p.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000000"}

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return {"ok": True, "view": {"id": f"V{next(self._ts):06d}", **(p.get("view") or {})}}
