"""Structured logs: JSON lines carrying run and thread ids, with secrets masked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
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


def setup_logging(
    redactor: Redactor, *, verbose: bool = False, stream: TextIO = sys.stderr, file: Path | None = None
) -> None:
    """Send every log record to ``stream`` as JSON lines (replacing earlier handlers).

    Args:
        redactor: Masks secrets in every line.
        verbose: Log at INFO to ``stream`` (with ``file`` too: to the stream, not the file).
        stream: Where lines go without ``file``, or with ``verbose``.
        file: A log file (the console's ``COO_DATA_DIR/coo.log``), so no line lands inside the chat;
            it takes INFO and up, and Python's warnings too.
    """
    handler: logging.Handler
    if file is not None and not verbose:
        handler = logging.FileHandler(file, encoding="utf-8", delay=True)
        level = logging.INFO
        logging.captureWarnings(True)
    else:
        handler = logging.StreamHandler(stream)
        level = logging.INFO if verbose else logging.WARNING
    handler.setFormatter(JsonFormatter(redactor))
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.FileHandler):
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
