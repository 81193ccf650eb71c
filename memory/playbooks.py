"""Stored playbooks and their runs: versions, pause switches, and the one claim per (playbook, slot)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from memory.db import transaction
from memory.playbook_tables import PlaybookRun, PlaybookSwitch, PlaybookVersion
from memory.tables import utcnow

FINISHED = ("done", "failed", "skipped")


def current(db: Engine, name: str) -> PlaybookVersion | None:
    """Return a playbook's newest version, or None."""
    with Session(db) as s:
        q = select(PlaybookVersion).where(PlaybookVersion.name == name)
        return s.exec(q.order_by(col(PlaybookVersion.version).desc())).first()


def names(db: Engine) -> list[str]:
    """Return every stored playbook's name, sorted."""
    with Session(db) as s:
        return sorted(set(s.exec(select(PlaybookVersion.name)).all()))


def save(db: Engine, name: str, text: str, by: str, now: datetime | None = None) -> PlaybookVersion:
    """Store a new version of a playbook (its number is one more than the newest); return it.

    Two concurrent saves cannot take the same number: the (name, version) pair is unique, and the
    loser tries again with the next one.
    """
    for _ in range(5):
        try:
            with transaction(db) as s:
                top = s.exec(select(func.max(PlaybookVersion.version)).where(PlaybookVersion.name == name)).one()
                row = PlaybookVersion(name=name, version=int(top or 0) + 1, text=text, created_by=by)
                if now is not None:
                    row.created_at = now
                s.add(row)
                if s.get(PlaybookSwitch, name) is None:
                    s.add(PlaybookSwitch(name=name, since=now or utcnow(), changed_by=by))
            return row
        except IntegrityError:
            continue
    raise RuntimeError(f"could not store a new version of playbook {name}")


def ensure(db: Engine, name: str, text: str, by: str, now: datetime | None = None) -> PlaybookVersion:
    """Store a playbook's first version when it has none (a shipped one); return the newest."""
    row = current(db, name)
    return row if row is not None else save(db, name, text, by, now)


def switch(db: Engine, name: str) -> PlaybookSwitch:
    """Return a playbook's pause switch (a default, running one when none is stored)."""
    with Session(db) as s:
        return s.get(PlaybookSwitch, name) or PlaybookSwitch(name=name, since=utcnow())


def set_paused(db: Engine, name: str, paused: bool, by: str, now: datetime | None = None) -> bool:
    """Pause or resume a playbook; return whether it changed.

    Resuming moves ``since`` to now: slots that fell while it was paused are not "missed".
    """
    now = now or utcnow()
    with transaction(db) as s:
        row = s.get(PlaybookSwitch, name)
        if row is None:
            s.add(PlaybookSwitch(name=name, paused=paused, since=now, changed_by=by))
            return paused
        if row.paused == paused:
            return False
        row.paused, row.changed_by = paused, by
        if not paused:
            row.since = now
        s.add(row)
    return True


def claim(
    db: Engine, playbook: str, slot: str, *, version: int, conversation: str, status: str = "running"
) -> PlaybookRun | None:
    """Claim a slot of a playbook: the new run, or None when another process (or an earlier run) has it."""
    run = PlaybookRun(playbook=playbook, slot=slot, version=version, conversation=conversation, status=status)
    try:
        with transaction(db) as s:
            s.add(run)
    except IntegrityError:
        return None
    return run


def get(db: Engine, run_id: str) -> PlaybookRun | None:
    """Return one playbook run."""
    with Session(db) as s:
        return s.get(PlaybookRun, run_id)


def finish(db: Engine, run_id: str, status: str, text: str, step: str = "") -> None:
    """Record where a run stands (done, failed, waiting ...), with its last words."""
    with transaction(db) as s:
        s.execute(
            update(PlaybookRun)
            .where(col(PlaybookRun.id) == run_id)
            .values(
                status=status,
                text=text[:4000],
                step=step[:64],
                finished_at=utcnow() if status in FINISHED else None,
            )
        )


def take_missed(db: Engine, playbook: str, status: str, *, until: str | None = None) -> list[PlaybookRun]:
    """Move a playbook's ``missed`` runs to ``status`` (one UPDATE: a double click moves them once); return them."""
    with transaction(db) as s:
        rows = list(s.exec(select(PlaybookRun).where(PlaybookRun.playbook == playbook, PlaybookRun.status == "missed")).all())
        if until is not None:
            rows = [r for r in rows if r.slot <= until]
        taken = []
        for r in rows:
            changed = s.execute(
                update(PlaybookRun)
                .where(col(PlaybookRun.id) == r.id, col(PlaybookRun.status) == "missed")
                .values(status=status)
            ).rowcount  # type: ignore[attr-defined]
            if changed:
                taken.append(r)
    return taken


def runs_of(db: Engine, playbook: str, limit: int = 20) -> Sequence[PlaybookRun]:
    """Return a playbook's latest runs, newest first."""
    with Session(db) as s:
        q = select(PlaybookRun).where(PlaybookRun.playbook == playbook)
        return s.exec(q.order_by(col(PlaybookRun.created_at).desc()).limit(limit)).all()


def last_slot(db: Engine, playbook: str) -> str | None:
    """Return the latest scheduled slot (ISO time) any run of a playbook claimed."""
    with Session(db) as s:
        q = select(func.max(PlaybookRun.slot)).where(
            PlaybookRun.playbook == playbook, ~col(PlaybookRun.slot).startswith("manual:"),
            ~col(PlaybookRun.slot).startswith("event:"),
        )
        return s.exec(q).one()


def with_status(db: Engine, status: str) -> Sequence[PlaybookRun]:
    """Return every run with a status (e.g. the waiting ones, to resume when their cards are decided)."""
    with Session(db) as s:
        return s.exec(select(PlaybookRun).where(PlaybookRun.status == status)).all()


def set_control(db: Engine, run_id: str, *, skip: str | None = None, retry: str | None = None) -> dict[str, object]:
    """Record the operator's say on a stopped run (skip a step, or run it again); return the new control."""
    with transaction(db) as s:
        row = s.get(PlaybookRun, run_id)
        if row is None:
            return {}
        control = dict(row.control or {})
        if skip is not None:
            control["skip"] = sorted({*control.get("skip", []), skip})
        if retry is not None:
            attempts = dict(control.get("attempts", {}))
            attempts[retry] = int(attempts.get(retry, 0)) + 1
            control["attempts"] = attempts
        row.control = control
        s.add(row)
    return control


def version(db: Engine, name: str, number: int) -> PlaybookVersion | None:
    """Return one stored version of a playbook."""
    with Session(db) as s:
        q = select(PlaybookVersion).where(PlaybookVersion.name == name, PlaybookVersion.version == number)
        return s.exec(q).first()


def take(db: Engine, run_id: str, was: str, now_status: str) -> bool:
    """Move a run from one status to another in one conditional UPDATE; False when it was not ``was``."""
    with transaction(db) as s:
        changed = s.execute(
            update(PlaybookRun)
            .where(col(PlaybookRun.id) == run_id, col(PlaybookRun.status) == was)
            .values(status=now_status)
        ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def has_slot(db: Engine, playbook: str, slot: str) -> bool:
    """Tell whether a slot of a playbook was claimed (a cheap look before trying the claim)."""
    with Session(db) as s:
        q = select(PlaybookRun.id).where(PlaybookRun.playbook == playbook, PlaybookRun.slot == slot)
        return s.exec(q).first() is not None
