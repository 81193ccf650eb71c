"""The playbooks coo ships and uses itself; stored as version 1 the first time coo starts with them.

Kept as text here (not package data files) so an installed wheel always has them.
"""

from __future__ import annotations

from datetime import time

OVERDUE_INVOICES = """\
name: overdue-invoices
version: 1
description: Every Monday at 09:00, remind each customer whose invoice is overdue, all on one card.
trigger: {cron: "0 9 * * MON"}
on_failure: stop
steps:
  - id: overdue
    query: invoices.overdue
  - id: remind
    for_each: "{{ steps.overdue.items }}"
    as: inv
    op: outreach.send_email
    approval: batch
    args:
      to: "{{ inv.email }}"
      subject: "Reminder: invoice {{ inv.number }} is overdue"
      body: |
        Hello {{ inv.customer }},

        Invoice {{ inv.number }} for {{ inv.amount }} was due on {{ inv.due_on }} and is still open.
        Could you let me know when it will be paid?

        Thank you.
  - id: tell
    message: >-
      Overdue invoices: {{ steps.overdue.count }} found; {{ steps.remind.count }} reminder(s) sent
      (each after its undo window), {{ steps.remind.rejected }} left out.
"""

MONTH_END = """\
name: month-end
version: 1
description: On the 1st, the previous month's summary and the invoices still open, to the operator.
trigger: {cron: "0 9 1 * *"}
steps:
  - id: month
    query: month.previous
  - id: summary
    query: books.summary
    args: {month: "{{ steps.month.value }}"}
  - id: still_open
    query: invoices.open
  - id: tell
    message: |-
      Month end: {{ steps.summary.value }}
      Still open: {{ steps.still_open.count }} invoice(s)
      {{ steps.still_open.items.*.line | lines }}
"""


def digest_cron(at: time) -> str:
    """Return the cron expression of a digest sent every day at ``at`` (``COO_DIGEST_TIME``)."""
    return f"{at.minute} {at.hour} * * *"


def daily_digest(at: time = time(8, 0)) -> str:
    """Return the ``daily-digest`` playbook for a digest time (the settings write it; coo stores it).

    ``on_missed: latest``: a digest missed while coo was down goes out once when it starts (only the
    latest, not one per missed day), with no card: it covers everything since the last digest that
    went out, so the older ones would say nothing it does not, and sending it has no effect to regret.
    """
    return f"""\
name: daily-digest
version: 1
description: The daily digest (yesterday's actions and their cost, what waits, spend, tasks, calendar, failures).
trigger: {{cron: "{digest_cron(at)}"}}
on_missed: latest
steps:
  - id: digest
    query: digest.send
"""


DAILY_DIGEST = daily_digest()

SHIPPED: dict[str, str] = {
    "overdue-invoices": OVERDUE_INVOICES,
    "month-end": MONTH_END,
    "daily-digest": DAILY_DIGEST,
}
