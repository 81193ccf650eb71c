"""Perform approved actions exactly once and undo them by compensation, with events in the same transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from agents.contract import Action, ExecContext, SideEffect, as_clause
from agents.errors import NotReversible
from agents.registry import Registry
from graph.errors import AlreadyDone, NotFound, unexpected_text, user_message
from graph.faults import NO_FAULTS, Faults
from graph.state import StepResult
from graph.telemetry import Telemetry
from memory import eventlog
from memory.db import transaction

log = logging.getLogger(__name__)

def shown_message(exc: BaseException) -> str | None:
    """Return what an operation's error may show the user, or None when it is unexpected.

    Only an error carrying a ``user_message`` is shown (agents raise ``agents.errors`` types for their
    refusals); a built-in exception's text (a bare ValueError, a KeyError) never is.
    """
    return user_message(exc)


@dataclass(frozen=True)
class Undone:
    """The result of an undo."""

    event_id: str
    compensation_event_id: str
    text: str


class Executor:
    """Runs operations through the registry, each write with its event, once per idempotency key."""

    def __init__(
        self, engine: Engine, registry: Registry, faults: Faults = NO_FAULTS, telemetry: Telemetry | None = None
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.faults = faults
        self.telemetry = telemetry or Telemetry(engine)
        self.effect_calls = 0  # counted so tests can prove nothing ran twice

    def execute(self, action: Action, *, run_id: str, conversation: str, actor: str) -> StepResult:
        """Execute one action; a second call with the same idempotency key returns the first result."""
        op = self.registry.get(action.name)
        args = op.args.model_validate(action.arguments)
        if op.side_effect is SideEffect.READ:
            with Session(self.engine) as s:
                ctx = ExecContext(s, run_id, actor, action.idempotency_key, conversation)
                out = op.execute(ctx, args)
            return StepResult(key=action.name, ok=True, text=out.text)
        try:
            with transaction(self.engine) as s:
                prior = eventlog.by_key(s, action.idempotency_key)
                if prior is not None:
                    return _from_event(action, prior.id, prior.payload.get("text", ""), duplicate=True)
                ctx = ExecContext(
                    s, run_id, actor, action.idempotency_key, conversation, untrusted=action.untrusted_source
                )
                self.effect_calls += 1
                self.faults.hit("before_effect")
                out = op.execute(ctx, args)
                self.faults.hit("after_effect")
                # A reversible write can always be compensated; an irreversible one only while its
                # compensation says it is still in time (an email waiting out its undo window).
                undoable = op.side_effect is SideEffect.REVERSIBLE or (
                    op.compensate is not None
                    and out.compensation is not None
                    and "undo_until" in out.compensation
                )
                compensation = (
                    {"operation": action.name, **out.compensation}
                    if out.compensation is not None and undoable
                    else None
                )
                ev = eventlog.append(
                    s,
                    run_id=run_id,
                    conversation=conversation,
                    kind="effect",
                    action=action.name,
                    payload={"text": out.text, "arguments": action.arguments, **out.payload},
                    actor=actor,
                    idempotency_key=action.idempotency_key,
                    compensation=compensation,
                )
                self.faults.hit("after_event_written")
                result = _from_event(action, ev.id, out.text, reversible=compensation is not None)
            self.faults.hit("after_commit")
            return result
        except IntegrityError:
            # A concurrent execution with the same key won the race; report its result.
            with Session(self.engine) as s:
                prior = eventlog.by_key(s, action.idempotency_key)
            if prior is None:
                raise
            return _from_event(action, prior.id, prior.payload.get("text", ""), duplicate=True)
        except Exception as exc:  # noqa: BLE001 - a user's message is shown; a bug gets an id, or fails the run
            shown = shown_message(exc)
            if shown is None:
                if not isinstance(exc, LookupError | ValueError):
                    raise  # the run fails; the engine reports it with an error id
                error_id = self.telemetry.unexpected(exc, run_id=run_id, conversation=conversation, where=action.name)
                text = unexpected_text(error_id, run_id)
                shown = text[0].lower() + text[1:]
            return StepResult(key=action.name, ok=False, text=f"Could not {as_clause(action.summary)}: {shown}")

    def undo(self, event_id: str, *, run_id: str, actor: str) -> Undone:
        """Compensate an effect once, appending a compensation event.

        Raises:
            NotFound: No such effect.
            NotReversible: The effect cannot be undone.
            AlreadyDone: It was undone before.
        """
        key = f"undo:{event_id}"
        try:
            with transaction(self.engine) as s:
                ev = eventlog.get(s, event_id)
                if ev is None or ev.kind != "effect":
                    raise NotFound("There is nothing to undo under that id.")
                done = eventlog.compensation_of(s, event_id)
                if done is not None:
                    raise AlreadyDone(f"Already undone at {done.at:%Y-%m-%d %H:%M UTC} by {done.actor}.")
                if not ev.compensation:
                    raise NotReversible("That action cannot be undone.")
                op = self.registry.get(ev.compensation["operation"])
                if op.compensate is None:
                    raise NotReversible("That action cannot be undone.")
                ctx = ExecContext(s, run_id, actor, key, ev.conversation)
                self.effect_calls += 1
                out = op.compensate(ctx, ev.compensation)
                self.faults.hit("during_undo")
                comp = eventlog.append(
                    s,
                    run_id=run_id,
                    conversation=ev.conversation,
                    kind="compensation",
                    action=ev.action,
                    payload={"text": out.text, **out.payload},
                    actor=actor,
                    idempotency_key=key,
                    compensates=ev.id,
                )
                undone = Undone(ev.id, comp.id, out.text)
            self.faults.hit("after_undo_commit")
            return undone
        except IntegrityError:
            raise AlreadyDone("Already undone.") from None


def _from_event(
    action: Action, event_id: str, text: str, *, duplicate: bool = False, reversible: bool | None = None
) -> StepResult:
    return StepResult(
        key=action.name,
        ok=True,
        text=text,
        event_id=event_id,
        reversible=action.reversible if reversible is None else reversible,
        duplicate=duplicate,
    )
