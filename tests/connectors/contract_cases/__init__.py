"""The cases of the connector contract suite (``tests/connectors/test_contracts.py``), one module per
connector: for each reversible operation, how to check that its replayed idempotency key acts once, that
its compensation restores the prior state, and that compensating it twice changes nothing more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

Check = Callable[[pytest.FixtureRequest], object]
"""One check of a case; it asks ``request`` for the fixtures it needs (``app_factory``, ``tmp_path``...)."""


@dataclass(frozen=True)
class Case:
    """One reversible operation and its three contract checks.

    Attributes:
        key: The operation (``agent.operation``); the case's id in the suite.
        replay: Executes one action twice (same idempotency key): one effect.
        restore: Executes, then compensates: the prior state again.
        twice: Executes, compensates, compensates again: nothing more changes.
    """

    key: str
    replay: Check
    restore: Check
    twice: Check


def all_cases() -> list[Case]:
    """Every case, over every connector with a reversible operation."""
    from tests.connectors.contract_cases import calendar_case, crm_case, ledger_case, web_case

    return [*calendar_case.CASES, *crm_case.CASES, *ledger_case.CASES, *web_case.CASES]
