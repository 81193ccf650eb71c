"""Dramatiq actors for long work, declared by a function on the broker it is given (never at import).

Every job kind becomes one actor whose message carries only the job id; the job table holds the rest.
Dramatiq's own retries are off for these actors (``max_retries=0``): attempts, backoff and dead
letters live in the job table, so they survive the in-memory broker and are visible to the operator.
Its time limit is on: an attempt that runs too long is interrupted and counted as a failure.
The job kinds themselves belong to their agents (``agents/<name>/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import dramatiq
from dramatiq.broker import Broker

from agents.jobkind import JobKind


def declare_actors(
    broker: Broker, kinds: Iterable[JobKind], run: Callable[[str], object]
) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Declare one actor per job kind on ``broker``; each runs ``run(job_id)``.

    Raises:
        ValueError: The broker lacks the TimeLimit or Retries middleware (Dramatiq names the options).
    """
    actors: dict[str, dramatiq.Actor[Any, Any]] = {}
    for kind in kinds:

        def perform(job_id: str) -> None:
            run(job_id)

        perform.__name__ = perform.__qualname__ = kind.name.replace(".", "_")
        declare = dramatiq.actor(
            broker=broker,
            actor_name=kind.name,
            queue_name=kind.queue,
            time_limit=int(kind.time_limit_s * 1000),
            max_retries=0,
        )
        actors[kind.name] = declare(perform)
    return actors
