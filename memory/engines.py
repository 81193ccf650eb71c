"""What can go wrong before the first query, said in one line: the URL's kind, the server, the data dir.

Only the standard library is imported here: `coo` checks settings with it before loading SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from memory.errors import DatabaseUnreachable, DataDirUnwritable, UnsupportedDatabase

SUPPORTED = ("sqlite", "postgres", "postgresql")
_FIX_URL = (
    "set DATABASE_URL to postgresql://user:password@host:5432/db, or unset it for SQLite in COO_DATA_DIR"
)


def scheme_of(url: str) -> str:
    """Return a database URL's scheme without its driver (``postgresql+psycopg`` → ``postgresql``)."""
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def check_url(url: str) -> None:
    """Refuse a database URL coo cannot use, naming its scheme.

    Raises:
        UnsupportedDatabase: The URL is not SQLite or PostgreSQL (or not a URL at all).
    """
    scheme = scheme_of(url)
    if not scheme:
        raise UnsupportedDatabase("DATABASE_URL is not a URL (it has no scheme://)", _FIX_URL)
    if scheme not in SUPPORTED:
        raise UnsupportedDatabase(
            f"DATABASE_URL uses {scheme}://, which coo does not support (only PostgreSQL and SQLite)",
            _FIX_URL,
        )


def where(url: str) -> str:
    """Return where a database URL points, for messages: ``host:port/db`` or the SQLite file (no password)."""
    if not scheme_of(url):
        return "(DATABASE_URL is not a URL)"
    if scheme_of(url) == "sqlite":
        return url.split(":///", 1)[1] if ":///" in url else url
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or ''}"


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    lowered = text.lower()
    for needle, said in (
        ("connection refused", "connection refused"),
        ("timeout expired", "timed out"),
        ("timed out", "timed out"),
        ("could not translate host name", "unknown host"),
        ("name or service not known", "unknown host"),
        ("password authentication failed", "password refused"),
        ("does not exist", "database does not exist" if "database" in lowered else text[:120]),
        ("unable to open database file", "cannot open the file"),
    ):
        if needle in lowered:
            return said
    return text[:120] or type(orig).__name__


def unreachable(url: str, exc: BaseException) -> DatabaseUnreachable:
    """Return the one-line error for a database that could not be opened, naming where it is."""
    if scheme_of(url) == "sqlite":
        return DatabaseUnreachable(
            f"cannot open the SQLite database {where(url)} ({_reason(exc)})",
            "check COO_DATA_DIR (or DATABASE_URL) and that the folder can be written",
        )
    return DatabaseUnreachable(
        f"cannot reach the database at {where(url)} ({_reason(exc)})",
        "check DATABASE_URL and that the server is up",
    )


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory if needed and check it can be written; return it.

    Raises:
        DataDirUnwritable: It cannot be created or written (naming the path, not DATABASE_URL).
    """
    fix = "set COO_DATA_DIR to a folder you can write"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirUnwritable(
            f"the data directory {path} cannot be created ({exc.strerror or exc})", fix
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirUnwritable(f"the data directory {path} cannot be written", fix)
    return path
