"""The registry of operations, keyed by ``agent.operation``, and turning raw proposals into Actions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from agents.contract import Action, AgentPrompt, Operation, SideEffect, canonical_json
from agents.errors import InvalidArguments, PrecheckFailed, UnknownOperation


class Registry:
    """Holds every operation the engine knows and validates proposals against them."""

    def __init__(
        self, operations: Iterable[Operation[Any]] = (), prompts: Iterable[AgentPrompt] = ()
    ) -> None:
        self._ops: dict[str, Operation[Any]] = {}
        self._missing: dict[str, str] = {}
        for op in operations:
            self.add(op)
        self._prompts = list(prompts)

    def prompts(self) -> list[AgentPrompt]:
        """Return the agents' prompts for the model planner (the agents that have one)."""
        return list(self._prompts)

    def add(self, op: Operation[Any]) -> None:
        """Register an operation; names must be unique."""
        if op.key in self._ops:
            raise ValueError(f"operation {op.key} registered twice")
        if op.side_effect is SideEffect.REVERSIBLE and op.compensate is None:
            raise ValueError(f"{op.key} says it is reversible but has no compensation")
        self._ops[op.key] = op

    def not_set_up(self, agent: str, reason: str) -> None:
        """Say why an agent's operations are missing (it needs configuration), for a clear refusal."""
        self._missing[agent] = reason

    def get(self, key: str) -> Operation[Any]:
        """Return an operation by ``agent.operation`` or by its tool name."""
        op = self._ops.get(key) or self._ops.get(key.replace("__", ".", 1))
        if op is None:
            agent = key.replace("__", ".", 1).split(".", 1)[0]
            raise UnknownOperation(key, self._missing.get(agent))
        return op

    def offered(self) -> list[Operation[Any]]:
        """Return the operations planners may propose."""
        return [op for op in self._ops.values() if op.offered]

    def expand(self, key: str, arguments: dict[str, Any], session: Session) -> tuple[str, dict[str, Any]]:
        """Return the operation and arguments a proposal stands for (itself, unless its operation expands).

        Raises:
            UnknownOperation: No such operation.
            InvalidArguments: The arguments do not fit, or what they point at cannot be proposed.
        """
        op = self.get(key)
        if op.expand is None:
            return key, arguments
        args = self._validate(op, arguments)
        try:
            return op.expand(session, args)
        except (LookupError, ValueError) as exc:
            if _user_message(exc) is None:
                raise  # a bug (a KeyError, ...): unexpected, never shown
            raise InvalidArguments(op.key, str(exc)) from None

    def expands(self, key: str) -> bool:
        """Tell whether a proposal of this operation stands for another (see ``Operation.expand``)."""
        try:
            return self.get(key).expand is not None
        except UnknownOperation:
            return False

    def prechecks(self, key: str) -> bool:
        """Tell whether an operation has a pre-check to run before its card (see ``Operation.precheck``)."""
        try:
            return self.get(key).precheck is not None
        except UnknownOperation:
            return False

    def precheck(self, action: Action, session: Session) -> None:
        """Run an action's pre-check against the workspace, before any card is shown.

        Raises:
            PrecheckFailed: What the action needs is not there; the message says what and why. Only an
                error written for the user (one with a ``user_message``: ``agents.errors.Refusal``, a
                ``connectors.errors.ConnectorError``) becomes this; any other error from the pre-check (a ``KeyError`` of a bug) is raised as it is.
        """
        op = self.get(action.name)
        if op.precheck is None:
            return
        try:
            op.precheck(session, op.args.model_validate(action.arguments))
        except Exception as exc:
            # Any error written for the user counts: a Refusal, and a connector's own error (the
            # calendar server said no) too, which used to escape as the run's failure.
            said = _user_message(exc)
            if said is None:
                raise  # a bug (a KeyError, ...): unexpected, never shown
            raise PrecheckFailed(op.key, action.summary, said) from None

    def _validate(self, op: Operation[Any], arguments: dict[str, Any]) -> Any:
        if not isinstance(arguments, dict):
            raise InvalidArguments(op.key, "arguments must be an object")
        try:
            return op.args.model_validate(arguments)
        except ValidationError as exc:
            # A validator's own refusal (a Refusal such as DateError) is shown as its sentence alone.
            said = [m for e in exc.errors() if (m := _user_message(e.get("ctx", {}).get("error")))]
            if said and len(said) == len(exc.errors()):
                raise InvalidArguments(op.key, " ".join(said), whole=True) from None
            detail = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidArguments(op.key, detail) from None

    def propose(
        self,
        key: str,
        arguments: dict[str, Any],
        *,
        run_id: str,
        index: int,
        untrusted: bool = False,
        internal: bool = False,
    ) -> Action:
        """Validate a raw proposal and return the typed Action.

        Args:
            key: ``agent.operation`` or the tool name.
            arguments: Raw arguments, e.g. from a model's tool call.
            run_id: The run proposing it; part of the idempotency key.
            index: The proposal's position in the run; part of the idempotency key.
            untrusted: Whether the run had read untrusted content when proposing it.
            internal: The proposal comes from coo's code, never a planner (a preset: an operator's
                edit, a webhook's fixed proposal, a trust card), so operations not offered are allowed.

        Raises:
            UnknownOperation: No such operation, or one planners may not propose.
            InvalidArguments: The arguments do not fit the schema.
        """
        op = self.get(key)
        if not op.offered and not internal:
            raise UnknownOperation(key)
        args = self._validate(op, arguments)
        canonical = args.model_dump(mode="json")
        seed = canonical_json([run_id, index, op.key, canonical])
        return Action(
            agent=op.agent,
            operation=op.name,
            arguments=canonical,
            summary=op.summarize(args),
            changes=op.changes(args),
            side_effect=op.side_effect,
            reversible=op.side_effect is not SideEffect.IRREVERSIBLE,
            idempotency_key="act_" + hashlib.sha256(seed.encode()).hexdigest()[:40],
            amount_cents=op.amount_cents(args),
            untrusted_source=untrusted,
        )


def _user_message(exc: object) -> str | None:
    """Return the message an error carries for the user, or None (the marker of graph/errors.py)."""
    msg = getattr(exc, "user_message", None)
    return msg if isinstance(msg, str) and msg.strip() else None
