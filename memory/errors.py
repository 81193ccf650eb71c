"""Errors raised by the memory package.

MemoryError_ (base)
 ├── EventLogViolation   an attempt to change or delete an event
 └── DuplicateDelivery   an inbox delivery id seen before
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
