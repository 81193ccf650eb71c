"""The policy checks the agents add: their specs' own, and the recipient check (which needs the workspace)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.recipients import recipient_check
from graph.policy import Check

if TYPE_CHECKING:
    from bot.app import App


def policy_checks(app: App) -> list[Check]:
    """Return every connector's extra policy rules for this App (each may only make a verdict stricter)."""
    checks: list[Check] = [check for spec in app.specs for check in spec.checks]  # calendar, research
    checks.append(recipient_check(app.db))  # outreach: an unknown recipient is asked, or denied if untrusted
    return checks
