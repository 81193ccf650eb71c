"""Real services for the scale-out path: use them when up; skip locally when down; fail in CI."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_URL = "redis://127.0.0.1:6379/0"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    """Skip (locally) or fail (in CI) when a service is not listening."""
    if _reachable(host, port):
        return
    msg = f"{service} is not reachable at {host}:{port}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{msg}, and CI must run the scale-out tests (start it: see DESIGN.md)")
    pytest.skip(f"{msg}; start it to run this test")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a throwaway database on the local PostgreSQL and yield its URL; drop it afterwards."""
    require("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    name = f"coo_test_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url() -> str:
    """Return the local Redis URL, or skip/fail when it is down."""
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL
