"""Errors raised by the knowledge store.

KnowledgeError (base)
 ├── ItemNotFound      no live item under that id (never written, or forgotten)
 ├── InvalidItem       the text or kind cannot be stored (empty, unknown kind)
 └── EmbeddingFailed   the embedder could not embed (endpoint down, bad answer)
"""


class KnowledgeError(Exception):
    """Base class; the message is safe to show the operator."""

    @property
    def user_message(self) -> str:
        """What to tell the user: this error's message, written for them (graph/errors.py)."""
        return str(self)


class ItemNotFound(KnowledgeError, LookupError):
    """No live knowledge item has this id."""

    def __init__(self, item_id: int) -> None:
        super().__init__(f"no remembered item #{item_id}")
        self.item_id = item_id


class InvalidItem(KnowledgeError, ValueError):
    """The item cannot be stored as given."""


class EmbeddingFailed(KnowledgeError):
    """The embedder failed; carries the model so the operator knows which endpoint to check."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"embedding with {model} failed: {detail}")
        self.model = model
        self.detail = detail
