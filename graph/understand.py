"""Plain language for the rule-based model: act on a confident intent, offer the nearest commands, or say no.

The decision, after the grammar found no exact match:

- **act**: the nearest intent scores at least ``act`` and leads the next one by ``margin``, every slot its
  command needs was read, and the filled command passes the grammar. A write still goes through its
  card, which states the interpretation; a read answers at once.
- **offer**: the line comes within ``offer`` of some intents: "Did you mean `expense 40.00 ink`?" with up
  to three commands, filled with what was read (``<amount>`` where nothing exact was).
- **none**: nothing is close; the line is refused plainly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from graph.intents import Filled, IntentIndex, Scored, fill
from graph.slots import SlotContext

Way = Literal["act", "offer", "none"]


@dataclass(frozen=True)
class Thresholds:
    """Cosine similarities that decide between acting, offering and refusing (see the module)."""

    act: float = 0.53
    margin: float = 0.04
    offer: float = 0.42
    offer_chat: float = 0.65  # "ok", "thanks", "lol" come close to `undo`: never offer it on so little


@dataclass(frozen=True)
class Understood:
    """What a line was taken to mean.

    Attributes:
        way: Act on ``chosen``, offer ``offers``, or nothing.
        chosen: The filled command to act on (``act`` only).
        offers: Up to three filled commands, nearest first (``offer`` only).
        score: The nearest intent's similarity.
        problem: Why an amount that was written cannot be used ("" when none was).
    """

    way: Way
    chosen: Filled | None = None
    offers: tuple[Filled, ...] = ()
    score: float = 0.0
    problem: str = ""


@dataclass
class Understander:
    """Finds the intent of a line and fills its command (``graph.intents``), and decides what to do."""

    index: IntentIndex
    context: Callable[[], SlotContext]
    thresholds: Thresholds = field(default_factory=Thresholds)

    def understand(self, text: str, parses: Callable[[str], bool]) -> Understood:
        """Decide what a line means.

        Args:
            text: The line, which the grammar did not match exactly.
            parses: Tells whether a command line passes the grammar.
        """
        t = self.thresholds
        scored = [s for s in self.index.nearest(text) if s.phrasing.kind != "chat" or s.score >= t.offer_chat]
        top = scored[0]
        if top.score < t.offer:
            return Understood("none", score=top.score)
        ctx = self.context()
        close = [s for s in scored[:3] if s.score >= max(t.offer, top.score - 0.12)]
        filled = [fill(s.phrasing, text, ctx) for s in close]
        best = filled[0]
        if (
            top.score >= t.act
            and _leads(scored, t.margin)
            and best.complete
            and best.phrasing.kind != "chat"
            and parses(best.line)
        ):
            return Understood("act", chosen=best, score=top.score)
        return Understood("offer", offers=tuple(_unique(filled)), score=top.score, problem=best.problem)


def _leads(scored: list[Scored], margin: float) -> bool:
    return len(scored) < 2 or scored[0].score - scored[1].score >= margin


def _unique(filled: list[Filled]) -> list[Filled]:
    seen: set[str] = set()
    out = []
    for f in filled:
        if f.line not in seen:
            seen.add(f.line)
            out.append(f)
    return out
