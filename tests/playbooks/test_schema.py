"""A playbook's YAML: validated by its schema, with errors that name the line and the field."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from graph.playbooks.cron import Cron, CronError
from graph.playbooks.schema import PlaybookError, parse
from graph.playbooks.template import TemplateError, holds, render

OPS = ["tasks.add_task", "outreach.send_email"]
QUERIES = ["invoices.overdue"]


def problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as err:
        parse(text, operations=OPS, queries=QUERIES)
    return [str(p) for p in err.value.problems]


def test_a_valid_playbook_orders_its_steps_by_what_they_read() -> None:
    pb = parse(
        """
name: overdue
trigger: {cron: "0 9 * * MON"}
steps:
  - id: tell
    message: "{{ steps.send.count }} sent"
  - id: send
    for_each: "{{ steps.overdue.items }}"
    as: inv
    op: outreach.send_email
    args: {to: "{{ inv.email }}", subject: x, body: y}
  - id: overdue
    query: invoices.overdue
""",
        operations=OPS,
        queries=QUERIES,
    )
    assert pb.order() == ["overdue", "send", "tell"]


def test_schema_errors_name_their_line_and_field() -> None:
    got = problems(
        """name: Bad Name
trigger: {cron: "0 25 * * MON"}
steps:
  - id: a
    op: tasks.add_task
    query: invoices.overdue
  - id: b
    message: hi
    colour: red
"""
    )
    assert got[0].startswith("line 1, name:")
    assert got[1] == "line 2, trigger.cron: hour: '25' is outside 0-23"
    assert got[2].startswith("line 4, steps[0] (a): a step is exactly one of")
    assert got[3].startswith("line 9, steps[1] (b).colour:")


def test_unknown_steps_operations_queries_and_names_are_found_on_their_lines() -> None:
    got = problems(
        """name: x
trigger: {manual: true}
steps:
  - id: a
    op: tasks.nope
  - id: b
    query: books.everything
  - id: c
    message: "{{ steps.zz.text }} {{ item.x }}"
"""
    )
    assert "line 5, steps[0] (a).op: unknown operation 'tasks.nope'" in got
    assert any(g.startswith("line 7, steps[1] (b).query: unknown query 'books.everything'") for g in got)
    assert "line 8, steps[2] (c): unknown step 'zz'" in got
    assert any(g.startswith("line 8, steps[2] (c): 'item.x' names nothing") for g in got)


def test_a_cycle_is_an_error() -> None:
    got = problems(
        """name: x
trigger: {manual: true}
steps:
  - id: a
    message: "{{ steps.b.text }}"
  - id: b
    message: "{{ steps.a.text }}"
"""
    )
    assert got == ["line 3, steps: the steps form a cycle: a → b"]


def test_yaml_that_does_not_parse_says_where() -> None:
    got = problems("name: x\nsteps: [a\n  b: c\n")
    assert len(got) == 1 and got[0].startswith("line 3, playbook: not valid YAML")


def test_templates_keep_types_and_conditions_compare() -> None:
    scope = {"steps": {"q": {"items": [1, 2], "count": 2}}, "item": {"n": "INV-1"}}
    assert render("{{ steps.q.items }}", scope) == [1, 2]
    assert render("Invoice {{ item.n }} ({{ steps.q.items | length }})", scope) == "Invoice INV-1 (2)"
    assert holds("steps.q.count > 1", scope) and not holds("not steps.q.items", scope)
    with pytest.raises(TemplateError):
        render("{{ steps.q.nothing }}", scope)


def test_cron_slots_in_the_operators_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    mondays = list(Cron.parse("0 9 * * MON").slots(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC), paris))
    assert [s.day for s in mondays] == [7, 14, 21, 28] and {s.hour for s in mondays} == {8}
    summer = Cron.parse("0 9 1 * *").next_after(datetime(2026, 6, 15, tzinfo=UTC), paris)
    assert summer == datetime(2026, 7, 1, 7, tzinfo=UTC)
    with pytest.raises(CronError):
        Cron.parse("0 9 * *")
