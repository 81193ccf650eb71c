"""The spine end to end through the console adapter's programmatic interface, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from bot.console import ConsoleSession
from memory.tables import Event, LedgerEntry


def ledger_rows(app) -> int:
    with Session(app.db) as s:
        return s.exec(select(func.count()).select_from(LedgerEntry)).one()


def test_message_card_approve_effect_undo(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)

    # Given an expense request, the engine shows a card and changes nothing yet.
    [card] = chat.send("expense 12.50 coffee with Dana")
    assert card.card is not None
    fields = dict(card.card.fields)
    assert fields["Action"] == "bookkeeping.record_expense"
    assert fields["Arguments"] == '{"amount":"12.50","memo":"coffee with Dana"}'
    assert fields["Reversible"].startswith("yes")
    assert [b.action for b in card.card.buttons] == ["approve", "reject"]
    assert ledger_rows(app) == 0

    # When approved, the entry is written once and the reply offers Undo.
    decided, done = chat.send("approve")
    assert decided.replaces and decided.replaces.startswith("approval:")
    assert done.text.startswith("Done: Recorded expense")
    assert [b.action for b in done.buttons] == ["undo"]
    assert ledger_rows(app) == 1
    assert chat.send("balance")[0].text == "Balance: -$12.50."

    # Undo appends a compensating entry and event; the original stays.
    [undone] = chat.send("undo")
    assert undone.text.startswith("Undone:")
    assert chat.send("balance")[0].text == "Balance: $0.00."
    assert ledger_rows(app) == 2
    with Session(app.db) as s:
        kinds = [e.kind for e in s.exec(select(Event).order_by(Event.seq)).all()]
    assert [k for k in kinds if k in ("effect", "compensation")] == ["effect", "compensation"]
    # A second undo of the same event is refused, and changes nothing.
    [again] = chat.send("undo " + done.buttons[0].value)
    assert again.text.startswith("Already undone")
    assert ledger_rows(app) == 2


def test_restart_keeps_pending_approval(app_factory):
    first = app_factory()
    ConsoleSession(first).send("expense 40 printer ink")
    first.close()

    # A new engine on the same data shows the card again and can approve it.
    second = app_factory()
    chat = ConsoleSession(second)
    shown = chat.start()
    assert any(r.card and "printer ink" in r.card.title for r in shown)
    _, done = chat.send("a")
    assert done.text.startswith("Done: Recorded expense")
    assert chat.send("balance")[0].text == "Balance: -$40.00."


def test_double_approve_and_approve_after_reject(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    [card] = chat.send("expense 10 lunch")
    ap = card.card.buttons[0].value
    first = app.engine.decide(ap, True, "console:local")
    second = app.engine.decide(ap, True, "console:local")
    assert any(getattr(x, "text", "").startswith("Recorded expense") for x in first)
    assert len(second) == 1 and second[0].text.startswith("Already approved by console:local")
    assert ledger_rows(app) == 1

    [card] = chat.send("income 99 refund")
    ap2 = card.card.buttons[0].value
    app.engine.decide(ap2, False, "console:local")
    [refused] = app.engine.decide(ap2, True, "console:local")
    assert refused.text.startswith("Already rejected")
    assert ledger_rows(app) == 1


def test_expired_card_is_refused(app_factory):
    app = app_factory(settings={"coo_approval_ttl_s": 0.0})
    chat = ConsoleSession(app)
    [card] = chat.send("expense 10 lunch")
    [refused] = app.engine.decide(card.card.buttons[0].value, True, "console:local")
    assert "expired" in refused.text
    assert ledger_rows(app) == 0


def test_only_deciders_may_decide(app_factory):
    app = app_factory()
    [card] = ConsoleSession(app).send("expense 10 lunch")
    [refused] = app.engine.decide(card.card.buttons[0].value, True, "slack:U_STRANGER")
    assert refused.text == "You are not allowed to decide this approval."
    assert app.engine.pending()  # still pending
    assert ledger_rows(app) == 0


def test_resume_never_repeats_the_effect(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    [card] = chat.send("expense 7 parking")
    ap = card.card.buttons[0].value
    app.engine.decide(ap, True, "console:local")
    assert app.engine.executor.effect_calls == 1
    run_id = app.approvals.get(ap).run_id
    # Resuming again, recovering, and re-executing the same action all leave one effect.
    assert app.engine.resume_if_ready(run_id) == []
    app.engine.recover()
    action = app.engine.pending() or None
    assert action is None
    state = app.engine.graph.get_state({"configurable": {"thread_id": run_id}}).values
    from graph.state import RunState

    again = app.engine.executor.execute(
        RunState.model_validate(state).proposals[0].action,
        run_id=run_id,
        conversation="c",
        actor="console:local",
    )
    assert again.duplicate
    assert app.engine.executor.effect_calls == 1
    assert ledger_rows(app) == 1


def test_event_log_is_append_only(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    chat.send("task call the accountant")
    chat.send("approve")
    with pytest.raises(Exception, match="append-only"), app.db.begin() as conn:
        conn.execute(text("UPDATE event SET actor = 'mallory'"))
    with pytest.raises(Exception, match="append-only"), app.db.begin() as conn:
        conn.execute(text("DELETE FROM event"))


def test_decision_recorded_but_not_resumed_is_finished_on_restart(app_factory):
    # Given a decision recorded just before a crash (the graph never resumed)...
    app = app_factory()
    [card] = ConsoleSession(app).send("expense 3 stamps")
    app.approvals.decide(card.card.buttons[0].value, True, "console:local")
    app.close()
    # ...a restart finishes it, once.
    app2 = app_factory()
    replies = ConsoleSession(app2).start()
    assert any(r.text.startswith("Done: Recorded expense") for r in replies)
    assert ledger_rows(app2) == 1
    assert ConsoleSession(app2).start() == []


def test_scripted_console_in_real_processes(tmp_path: Path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("COO_", "OPENAI_", "SLACK_", "TELEGRAM_"))
    }
    env["COO_DATA_DIR"] = str(tmp_path / "data")
    env.pop("DATABASE_URL", None)

    def chat(script: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "chat"],
            input=script,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        return done.stdout

    out = chat("expense 12.50 coffee\napprove\nbalance\nundo\nbalance\n")
    assert "Balance: -$12.50." in out and out.rstrip().endswith("Balance: $0.00.")
    # Quit at a card; a new process shows it again and approves it.
    chat("expense 5 stamps\n")
    out = chat("approve\nbalance\n")
    assert "1 approval(s) still waiting" in out
    assert out.rstrip().endswith("Balance: -$5.00.")
