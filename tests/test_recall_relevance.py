"""Recall returns what was asked for: relevant items only, the operator's notes first, no undone outcomes."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from agents.research import NO_SEARCH
from bot.console import ConsoleSession
from memory.knowledge.tables import KnowledgeItem
from tests.agents.chat import done


def _outcomes(app, live: bool = True) -> list[str]:
    with Session(app.db) as s:
        rows = s.exec(select(KnowledgeItem).where(KnowledgeItem.kind == "outcome")).all()
    return [r.text for r in rows if (r.deleted_at is None) == live]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_recall_is_relevant_ranks_notes_first_and_forgets_undone_outcomes(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    # Given a note about Priya and a day's work, each action leaving an automatic outcome note,
    done(chat, "remember Priya prefers morning calls")
    done(chat, "expense 12.50 coffee with Dana")
    done(chat, "task call the accountant")
    done(chat, "invoice Acme 800 website")
    done(chat, "expense 4 green tea")
    assert len(_outcomes(app)) == 4
    # recall Priya answers with the note alone: no unrelated outcome notes pad the answer.
    [priya] = chat.send("recall Priya")
    assert priya.text.startswith("Remembered about 'Priya':\n#1 [note] Priya prefers morning calls")
    assert "Outcome of run" not in priya.text, priya.text
    # An outcome that does concern Priya comes back too, but after the operator's own note.
    done(chat, "task send Priya the contract")
    [both] = chat.send("recall Priya")
    lines = both.text.splitlines()[1:]
    assert lines[0].startswith("#1 [note] Priya prefers morning calls")
    assert len(lines) == 2 and "[outcome]" in lines[1] and "send Priya the contract" in lines[1]
    # When an action is undone, its outcome note is forgotten with it.
    done(chat, "expense 9 taxi to the airport")
    assert any("taxi" in t for t in _outcomes(app))
    [undone] = chat.send("undo")
    assert undone.text.startswith("Undone:")
    assert not any("taxi" in t for t in _outcomes(app)) and any("taxi" in t for t in _outcomes(app, False))
    [taxi] = chat.send("recall taxi")
    assert taxi.text == "Nothing remembered about 'taxi'."


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_research_without_a_url_says_what_it_can_do(app_factory):
    app = app_factory()
    chat = ConsoleSession(app)
    done(chat, "remember Priya prefers morning calls")
    done(chat, "expense 12.50 coffee with Dana")
    [reply] = chat.send("research competitor pricing")
    assert reply.card is None
    assert reply.text == f"{NO_SEARCH} Nothing in memory about 'competitor pricing' yet."
