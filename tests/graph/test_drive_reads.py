"""What one approval's turn reads: its run's approvals once, nothing of it again for trust; and still right."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import event

from graph import outcomes as o

CONSOLE = "console:local"


def say(app, text: str) -> list[o.Outcome]:
    return app.engine.submit(app.request("console", CONSOLE, CONSOLE, text))


class Reads:
    """Count the SELECTs on the app's database that read one run's rows of a table (``approval``, ``event``)."""

    def __init__(self, db) -> None:
        self.by_run: Counter[str] = Counter()
        event.listen(db, "before_cursor_execute", self._saw)

    def _saw(self, _conn, _cur, statement: str, *_a) -> None:
        if statement.lstrip().startswith("SELECT"):
            for table in re.findall(r"\b(\w+)\.run_id\s*(?:=|IN)", statement):
                self.by_run[table] += 1


def test_an_approved_turn_reads_its_runs_approvals_once_and_no_steps(app_factory):
    app = app_factory()
    [ask] = [x for x in say(app, "expense 12 ink") if isinstance(x, o.Ask)]
    reads = Reads(app.db)
    outs = app.engine.decide(ask.approval_id, True, CONSOLE)
    assert [type(x) for x in outs][:2] == [o.Decided, o.Done]
    # One read of the run's approvals after the decision's commit (the approve node is handed it, the
    # outcomes of a finished run need none); trust reads no execute steps: the drive's state has them.
    assert reads.by_run["approval"] == 1
    assert reads.by_run["event"] == 0


def test_a_run_with_two_cards_resumes_only_when_both_are_decided_and_does_what_was_approved(app_factory):
    import dataclasses

    from graph.state import Preset

    app = app_factory()
    [one] = [x for x in say(app, "expense 5 pens") if isinstance(x, o.Ask)]
    preset = tuple(Preset(key=one.action.name, arguments={**one.action.arguments, **a}) for a in (
        {"memo": "pens"}, {"memo": "paper"}))
    req = dataclasses.replace(app.request("console", CONSOLE, CONSOLE, "two"), preset=preset)
    first, second = [x for x in app.engine.submit(req) if isinstance(x, o.Ask)]
    assert first.run_id == second.run_id
    assert [type(x) for x in app.engine.decide(first.approval_id, True, CONSOLE)] == [o.Decided]
    outs = app.engine.decide(second.approval_id, False, CONSOLE)
    [done] = [x for x in outs if isinstance(x, o.Done)]
    assert "pens" in done.text
    assert any(isinstance(x, o.Say) and "Not done (rejected)" in x.text for x in outs)
