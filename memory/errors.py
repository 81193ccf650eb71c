"""Errors raised by the memory package.

Those whose message is written for the user (``user_message``, see graph/errors.py) are marked (*).

MemoryError_ (base)
 ├── EventLogViolation   an attempt to change or delete an event
 ├── DuplicateDelivery   an inbox delivery id seen before
 ├── UnbalancedEntry (*) a journal entry whose debits and credits differ (also a ValueError)
 ├── UnknownAccount (*)  a journal line on an account not in the chart (also a ValueError)
 └── SetupError (*)      a database or data directory that cannot be used (one line: what, then the fix)
      ├── DatabaseUnreachable  the server is down, unknown or refuses us (names host and DATABASE_URL)
      ├── UnsupportedDatabase  DATABASE_URL's scheme is not SQLite or PostgreSQL
      └── DataDirUnwritable    COO_DATA_DIR cannot be created or written (names the path)
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

    @property
    def user_message(self) -> str:
        """What to tell the user: this error's message, written for them (graph/errors.py)."""
        return str(self)


class UnknownAccount(MemoryError_, ValueError):
    """A journal line names an account the chart does not have."""

    def __init__(self, account: str) -> None:
        super().__init__(f"unknown account {account!r}")
        self.account = account

    @property
    def user_message(self) -> str:
        """What to tell the user: this error's message, written for them (graph/errors.py)."""
        return str(self)


class SetupError(MemoryError_):
    """A database or data directory that cannot be used; the message is one line that says what to set.

    Attributes:
        what: What is wrong, naming the host, scheme or path (never a password).
        fix: What the operator should do about it.
    """

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what = what
        self.fix = fix

    @property
    def user_message(self) -> str:
        """What to tell the user: this error's message, written for them (graph/errors.py)."""
        return str(self)


class DatabaseUnreachable(SetupError):
    """The database server could not be reached or refused the connection."""


class UnsupportedDatabase(SetupError):
    """DATABASE_URL names a kind of database coo does not speak."""


class DataDirUnwritable(SetupError):
    """COO_DATA_DIR cannot be created or written."""
