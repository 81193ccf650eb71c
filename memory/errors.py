"""Errors raised by the memory package.

MemoryError_ (base)
 ├── EventLogViolation   an attempt to change or delete an event
 ├── DuplicateDelivery   an inbox delivery id seen before
 ├── UnbalancedEntry     a journal entry whose debits and credits differ (also a ValueError)
 └── UnknownAccount      a journal line on an account not in the chart (also a ValueError)
"""


class MemoryError_(Exception):
    """Base class for memory errors."""


class EventLogViolation(MemoryError_):
    """The event log is append-only; this operation would rewrite history."""


class DuplicateDelivery(MemoryError_):
    """A platform delivery was already recorded in the inbox."""

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"delivery {delivery_id} was already received")
        self.delivery_id = delivery_id


class UnbalancedEntry(MemoryError_, ValueError):
    """A journal entry was refused: its debits and credits differ, or a line is malformed."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"unbalanced journal entry: {detail}")
        self.detail = detail


class UnknownAccount(MemoryError_, ValueError):
    """A journal line names an account the chart does not have."""

    def __init__(self, account: str) -> None:
        super().__init__(f"unknown account {account!r}")
        self.account = account
