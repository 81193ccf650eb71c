"""The console channel: a chat in the terminal. Buttons become typed choices."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from bot import commands
from bot.app import CONSOLE_ACTOR, App
from bot.commands import command
from bot.jobs import retry
from bot.messages import Card, Reply
from bot.notify import ConsoleOutbound
from bot.render import is_advisory, render
from graph import outcomes as o

CONVERSATION = "console:local"
_APPROVE = {"approve", "a", "yes", "y"}
_REJECT = {"reject", "r", "no", "n"}
_VERDICT = {"right": True, "wrong": False}  # an advisory card's buttons, typed


class ConsoleSession:
    """The console's programmatic interface: feed it lines, get replies back."""

    def __init__(self, app: App, conversation: str = CONVERSATION) -> None:
        self.app = app
        self.conversation = conversation
        self.pending: list[str] = []  # approval ids, most recent last
        self.undoable: list[str] = []  # event ids, most recent last
        self.failed: list[str] = []  # run ids

    def start(self) -> list[Reply]:
        """Finish interrupted work and show cards still waiting (e.g. after a restart)."""
        replies: list[Reply] = []
        for _conversation, outs in self.app.engine.recover():
            replies += self._track(outs)
        asks = self.app.engine.pending(self.conversation)
        if asks:
            replies.append(Reply(text=f"{len(asks)} approval(s) still waiting:"))
            replies += self._track(list(asks))
        return replies

    def send(self, line: str) -> list[Reply]:
        """Handle one typed line."""
        text = line.strip()
        word, _, rest = text.partition(" ")
        cmd = word.lower()
        engine = self.app.engine
        if not text:
            return []
        if cmd in _APPROVE | _REJECT:
            target = self._card(rest.strip())
            if isinstance(target, Reply):
                return [target]
            return self._track(engine.decide(target, cmd in _APPROVE, CONSOLE_ACTOR))
        if cmd in _VERDICT and (verdict_on := self._advisory_card(rest.strip())):
            return self._track(engine.decide(verdict_on, _VERDICT[cmd], CONSOLE_ACTOR))
        if cmd == "undo":
            target = rest.strip() or (self.undoable[-1] if self.undoable else "")
            if not target:
                return [Reply(text="There is nothing to undo.")]
            return self._track(engine.undo(target, CONSOLE_ACTOR, self.app.is_operator))
        if cmd == "retry":
            target = rest.strip() or (self.failed[-1] if self.failed else "")
            if not target:
                return [Reply(text="There is nothing to retry.")]
            like = self.app.request("console", self.conversation, CONSOLE_ACTOR, "")
            return self._track(retry(self.app, target, like))
        if cmd in ("pending", "cards"):
            asks = engine.pending(self.conversation)
            if not asks:
                return [Reply(text="Nothing is waiting for approval.")]
            numbered = [Reply(text=which_card(asks))] if len(asks) > 1 else []
            return numbered + self._track(list(asks))
        if cmd in ("status", "budget", "runs", "trust"):  # the console also takes them without the slash
            text = "/" + text
        handled = command(self.app, self.conversation, CONSOLE_ACTOR, text)  # a job answers by itself
        if handled is not None:
            return handled
        req = self.app.request("console", self.conversation, CONSOLE_ACTOR, text)
        return self._track(engine.submit(req))

    def _advisory_card(self, ref: str) -> str | None:
        """Return the advisory card `right`/`wrong` answers: the only one waiting, or card ``N``.

        Elsewhere the words are ordinary text ("right, and book the venue too"), so nothing else matches.
        """
        asks = [a for a in self.app.engine.pending(self.conversation) if is_advisory(a)]
        if not ref:
            return asks[0].approval_id if len(asks) == 1 else None
        if ref.isdigit() and 1 <= int(ref) <= len(asks):
            return asks[int(ref) - 1].approval_id
        return None

    def _card(self, ref: str) -> str | Reply:
        """Return the approval a decision is for: the only card, card ``N`` (oldest first) or an id.

        With several cards waiting and none named, the answer is a question listing them, never a guess.
        """
        asks = self.app.engine.pending(self.conversation)
        if ref and not ref.isdigit():
            return ref  # an approval id (a stale or unknown one gets the engine's own answer)
        if not asks:
            return Reply(text="There is nothing waiting for approval.")
        if not ref:
            return asks[0].approval_id if len(asks) == 1 else Reply(text=which_card(asks))
        n = int(ref)
        if not 1 <= n <= len(asks):
            return Reply(text=f"There is no card {n}. " + which_card(asks))
        return asks[n - 1].approval_id

    def notice(self, reply: Reply) -> None:
        """Remember the buttons of a message a job posted, so `retry` and `undo` find them."""
        for b in reply.buttons:
            if b.action == "retry" and b.value not in self.failed:
                self.failed.append(b.value)

    def _track(self, outs: Iterable[o.Outcome]) -> list[Reply]:
        replies = []
        for out in outs:
            if isinstance(out, o.Ask) and out.approval_id not in self.pending:
                self.pending.append(out.approval_id)
            elif isinstance(out, o.Decided) and out.approval_id in self.pending:
                self.pending.remove(out.approval_id)
            elif isinstance(out, o.Done) and out.undo_event:
                self.undoable.append(out.undo_event)
            elif isinstance(out, o.Undone) and out.event_id in self.undoable:
                self.undoable.remove(out.event_id)
            elif isinstance(out, o.Failed):
                self.failed.append(out.run_id)
            reply = render(out)
            if isinstance(out, o.Offer):  # the console numbers the choices in the text: type 1, 2, 3
                reply = replace(reply, buttons=[])
            replies.append(reply)
        return replies


def which_card(asks: Sequence[o.Ask]) -> str:
    """Return the numbered list of waiting cards, oldest first, with how to pick one."""
    lines = [f"{len(asks)} cards are waiting; which one?" if len(asks) > 1 else "1 card is waiting:"]
    lines += [f"  {i}. {a.action.summary}" for i, a in enumerate(asks, start=1)]
    lines.append("Type `approve N` or `reject N` (`a N`, `r N`).")
    return "\n".join(lines)


def status_text(app: App) -> str:
    """Render /status as text."""
    return "\n".join(r.text for r in commands.status(app, CONSOLE_ACTOR))


def budget_text(app: App) -> str:
    """Render /budget as text (the console shows the sparkline; image channels get the chart too)."""
    return "\n".join(r.text for r in commands.budget(app, CONSOLE_ACTOR))


def format_reply(reply: Reply) -> str:
    """Render a reply as plain text (scripted sessions, logs, tests)."""
    lines: list[str] = []
    if reply.card:
        c = reply.card
        lines.append(f"== {c.title}")
        lines += [f"   {k}: {v}" for k, v in c.fields]
        lines.append("   [" + "] [".join(f"{b.label}" for b in c.buttons) + f"]  (type {_typed(c)})")
        if c.footer:
            lines.append(f"   {c.footer}")
    else:
        lines.append(reply.text)
        if reply.buttons:
            hint = " ".join(f"[{b.label}]" for b in reply.buttons)
            lines.append(f"   {hint}  (type {' / '.join(b.action for b in reply.buttons)})")
    return "\n".join(lines)


def _typed(card: Card) -> str:
    """What to type for a card's buttons."""
    if card.advisory:  # set from the Ask by render.approval_card (is_advisory): one rule for both
        return "right or wrong"
    return "approve/a or reject/r"


def print_replies(replies: list[Reply], out: TextIO, rich: bool) -> None:
    """Print replies, with rich panels on a terminal and plain text otherwise."""
    if not rich:
        for r in replies:
            out.write(format_reply(r) + "\n")
        out.flush()
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    console = Console(file=out)
    for r in replies:
        if r.card:
            t = Table.grid(padding=(0, 1))
            for k, v in r.card.fields:
                t.add_row(f"[bold]{escape(k)}[/]", escape(v))
            buttons = "  ".join(f"[reverse] {b.label} [/]" for b in r.card.buttons)
            console.print(
                Panel(t, title=escape(r.card.title), subtitle=escape(r.card.footer), border_style="yellow")
            )
            console.print(f"{buttons}  [dim]type {_typed(r.card)}[/]")
        else:
            style = "green" if r.text.startswith("Done") else "cyan"
            console.print(f"[{style}]coo[/] › {escape(r.text)}", markup=True, highlight=False)
            if r.buttons:
                console.print(
                    "  ".join(f"[reverse] {b.label} [/]" for b in r.buttons)
                    + f"  [dim]type {' / '.join(b.action for b in r.buttons)}[/]"
                )


class PromptReader:
    """Reads lines with prompt_toolkit: line editing, and history kept across sessions in a file.

    Ctrl-D raises EOFError and Ctrl-C KeyboardInterrupt, as ``input()`` does. Messages that jobs print
    while a line is being typed appear above the prompt (``patch_stdout`` in `run_console`).
    """

    def __init__(self, history: Path | None = None, *, input: Any = None, output: Any = None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        self.session: Any = PromptSession(
            history=FileHistory(str(history)) if history is not None else InMemoryHistory(),
            input=input,
            output=output,
        )

    def __call__(self) -> str:
        """Return the next line (with its newline)."""
        return str(self.session.prompt("you › ")) + "\n"


def run_console(
    app: App,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    *,
    history: Path | None = None,
    reader: Callable[[], str] | None = None,
) -> int:
    """Run the interactive (or scripted) console until end of input, `quit` or Ctrl-C.

    On a terminal (or with ``reader``) lines are read with editing and history (``history`` is its
    file); otherwise plain lines are read from ``stdin`` and echoed, so a script's output reads in order.

    Returns:
        0 at the end of input or `quit`; 130 after Ctrl-C (unfinished work resumes at the next start).
    """
    prompting = reader is not None or (stdin.isatty() and stdout.isatty())
    if prompting and reader is None:
        reader = PromptReader(history)
    patch: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if prompting and stdout is sys.stdout:
        from prompt_toolkit.patch_stdout import patch_stdout

        patch = patch_stdout(raw=True)  # jobs' messages appear above the line being typed
    with patch:
        out = sys.stdout if prompting and stdout is sys.stdout else stdout
        try:
            return _loop(app, stdin, out, reader, rich=prompting and stdout.isatty())
        except KeyboardInterrupt:
            print(
                "\ncoo: interrupted; unfinished work resumes at the next start", file=sys.stderr, flush=True
            )
            return 130


def _loop(app: App, stdin: TextIO, stdout: TextIO, reader: Callable[[], str] | None, *, rich: bool) -> int:
    session = ConsoleSession(app)
    lock = threading.Lock()  # jobs print from their threads too

    def show(reply: Reply) -> str:
        session.notice(reply)
        return format_reply(reply)

    app.notifier.register("console", ConsoleOutbound(stdout, show, lock))
    app.notifier.relay_owed("console")  # what jobs owed the console while it was closed, or a crash cut off
    if reader is not None:
        print_replies(
            [Reply(text="coo is ready. Type `help` for what I can do, `quit` to leave.")], stdout, rich
        )
    started = session.start()  # outside the lock: it may post through the console's outbound itself
    with lock:
        print_replies(started, stdout, rich)
    while True:
        if reader is not None:
            try:
                line = reader()
            except EOFError:
                return 0
        else:
            line = stdin.readline()
        if not line or line.strip().lower() in {"quit", "exit", ":q"}:
            return 0
        if reader is None:
            with lock:  # the line first, then whatever it causes (a job's messages too), in order
                stdout.write(f"> {line.strip()}\n")
                stdout.flush()
        replies = session.send(line)
        with lock:
            print_replies(replies, stdout, rich)
