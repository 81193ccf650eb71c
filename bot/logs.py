"""Structured logs: JSON lines carrying run and thread ids, with secrets masked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from graph.trace import run_id_var, thread_var
from memory.redact import Redactor


class JsonFormatter(logging.Formatter):
    """Format records as one JSON object a line, masking secrets in the message and traceback."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.redactor.text(record.getMessage()),
        }
        for key, var in (("run_id", run_id_var), ("thread", thread_var)):
            value = getattr(record, key, None) or var.get()
            if value:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.redactor.text(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(redactor: Redactor, *, verbose: bool = False, stream: TextIO = sys.stderr) -> None:
    """Send every log record to ``stream`` as JSON lines (replacing earlier handlers)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
