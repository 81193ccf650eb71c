"""Turn the engine's outcomes into channel-neutral replies."""

from __future__ import annotations

from agents.contract import canonical_json
from bot.messages import Button, Card, Reply
from graph import outcomes as o
from memory.trust import ADVISORY_PREFIX


def is_advisory(ask: o.Ask) -> bool:
    """Whether a card asks for a verdict on coo (advisory mode: nothing runs) rather than an approval."""
    return ask.reason.startswith(ADVISORY_PREFIX)


def approval_card(ask: o.Ask) -> Card:
    """Render an approval: the exact canonical arguments, not the model's words about them."""
    a = ask.action
    fields = [
        ("Action", a.name),
        ("Arguments", canonical_json(a.arguments)),
        ("Will change", a.changes),
        ("Reversible", "yes (Undo afterwards)" if a.reversible else "NO - this cannot be undone"),
        ("Cost estimate", f"${a.cost_estimate_usd:.4f}"),
        ("Why I ask", ask.reason),
    ]
    if a.untrusted_source:
        fields.append(("Warning", "proposed after reading untrusted content"))
    if is_advisory(ask):  # shadow mode: the answer is a verdict on coo, nothing runs
        fields[3] = ("Reversible", "nothing will run: coo only records your answer")
        return Card(
            title=ask.reason,
            fields=fields,
            buttons=[
                Button("approve", ask.approval_id, "Right"),
                Button("reject", ask.approval_id, "Wrong"),
            ],
            footer=f"Edit it to what you did · expires {ask.expires_at:%Y-%m-%d %H:%M} UTC · {ask.approval_id}",
            advisory=True,
        )
    return Card(
        title=f"Approve? {a.summary}",
        fields=fields,
        buttons=[
            Button("approve", ask.approval_id, "Approve"),
            Button("reject", ask.approval_id, "Reject"),
        ],
        footer=f"expires {ask.expires_at:%Y-%m-%d %H:%M} UTC · {ask.approval_id}",
    )


MAX_OFFER = 150  # a longer command is offered in the text only (a button's value stays small)


def offer_buttons(run_id: str, lines: tuple[str, ...]) -> list[Button]:
    """Return a "did you mean"'s choices as buttons, bound to the run (and so to its conversation)."""
    return [Button("choose", f"{run_id}|{line}", line) for line in lines if len(line) <= MAX_OFFER]


def render(out: o.Outcome) -> Reply:
    """Render one outcome."""
    match out:
        case o.Offer(text, run_id=run_id, lines=lines):
            return Reply(text=text, buttons=offer_buttons(run_id, lines))
        case o.Say(text):
            return Reply(text=text)
        case o.Ask():
            return Reply(
                text=out.reason if is_advisory(out) else f"Approve? {out.action.summary}",
                card=approval_card(out),
                key=f"approval:{out.approval_id}",
            )
        case o.Done(run_id, text, undo_event, duplicate, effect):
            prefix = "Already done: " if duplicate else "Done: " if effect else ""
            buttons = [Button("undo", undo_event, "Undo")] if undo_event else []
            return Reply(
                text=prefix + text, buttons=buttons, key=f"event:{undo_event}" if undo_event else None
            )
        case o.Refused(text):
            return Reply(text=text)
        case o.Failed(run_id, text):
            return Reply(text=text, buttons=[Button("retry", run_id, "Retry")])
        case o.Decided(approval_id, decision, by, at, summary):
            verb = {"approved": "Approved", "rejected": "Rejected"}.get(decision, decision.capitalize())
            return Reply(
                text=f"{verb} by {by} at {at:%Y-%m-%d %H:%M} UTC: {summary}",
                replaces=f"approval:{approval_id}",
            )
        case o.Undone(event_id, text):
            return Reply(text=f"Undone: {text}", replaces=f"event:{event_id}")
    raise TypeError(f"cannot render {out!r}")


def render_all(outs: list[o.Outcome]) -> list[Reply]:
    """Render outcomes in order."""
    return [render(x) for x in outs]
