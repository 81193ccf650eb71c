"""The policy checks each connector adds, built with what they need from the App (the workspace, settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graph.policy import Check

if TYPE_CHECKING:
    from bot.app import App


def policy_checks(app: App) -> list[Check]:
    """Return every connector's extra policy rules for this App (each may only make a verdict stricter)."""
    checks: list[Check] = []
    if app.calendar is not None:
        from agents.calendar import policy_check

        checks.append(policy_check(app.calendar))
    from bot.research import research_checks

    checks += research_checks(app)
    from bot.recipients import recipient_check

    checks.append(recipient_check(app.db))  # outreach: an unknown recipient is asked, or denied if untrusted
    return checks
