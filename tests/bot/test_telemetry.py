"""OpenTelemetry export over real OTLP/HTTP to a loopback collector, from a real `coo chat` process."""

from __future__ import annotations

import os
import subprocess
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve


def test_spans_reach_the_otlp_endpoint(tmp_path):
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: Request) -> Response:
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(await request.body())
        received.append(msg)
        return Response(b"", media_type="application/x-protobuf")

    with serve(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COO_", "OPENAI_", "OTEL_"))}
        env.update(COO_DATA_DIR=str(tmp_path / "data"), OTEL_EXPORTER_OTLP_ENDPOINT=url)
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "chat"],
            input="expense 3 tea\napprove\n",
            text=True,
            env=env,
            capture_output=True,
            timeout=120,
            check=True,
        )
    spans = [s for m in received for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans]
    names = {s.name for s in spans}
    assert {"coo.run", "coo.step plan", "coo.step policy", "coo.step approve", "coo.step execute"} <= names
    run_ids = {a.value.string_value for s in spans for a in s.attributes if a.key == "coo.run_id"}
    assert len(run_ids) == 1 and next(iter(run_ids)).startswith("run_")
