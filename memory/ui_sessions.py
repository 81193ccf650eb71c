"""Sign-in links and sessions of the web console (bot/ui), stored hashed.

A link's token and a session's token are random (32 bytes, URL-safe) and only their SHA-256 is kept, so
a copy of the database signs nobody in. A link is used once, in one conditional UPDATE, so two clicks
on the same link open one session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from memory.db import transaction
from memory.tables import utcnow
from memory.ui_tables import UiLink, UiSession


def digest(token: str) -> str:
    """Return what is stored of a token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue_link(db: Engine, actor: str, ttl: timedelta) -> str:
    """Store a new sign-in link for ``actor``; return its token (shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    with transaction(db) as s:
        now = utcnow()
        s.add(UiLink(token_hash=digest(token), actor=actor, created_at=now, expires_at=now + ttl))
    return token


def redeem(db: Engine, token: str, ttl: timedelta) -> tuple[str, str] | None:
    """Use a link once and open a session: (session token, actor); None if unknown, used or expired."""
    now = utcnow()
    h = digest(token)
    with transaction(db) as s:
        used = s.execute(
            update(UiLink)
            .where(col(UiLink.token_hash) == h, col(UiLink.used_at).is_(None), col(UiLink.expires_at) > now)
            .values(used_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if not used:
            return None
        link = s.get(UiLink, h)
        assert link is not None
        session = secrets.token_urlsafe(32)
        s.add(UiSession(token_hash=digest(session), actor=link.actor, created_at=now, expires_at=now + ttl))
        return session, link.actor


def actor_of(db: Engine, session: str) -> str | None:
    """Return whose session this is, or None when it is unknown, expired or revoked."""
    if not session:
        return None
    with Session(db) as s:
        row = s.get(UiSession, digest(session))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row.actor


def revoke(db: Engine, session: str) -> None:
    """End one session (signing out)."""
    with transaction(db) as s:
        s.execute(
            update(UiSession)
            .where(col(UiSession.token_hash) == digest(session), col(UiSession.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )


def revoke_all(db: Engine, actor: str) -> int:
    """End every live session of ``actor`` (and its unused links); return how many sessions ended."""
    now = utcnow()
    with transaction(db) as s:
        n = s.execute(
            update(UiSession)
            .where(
                col(UiSession.actor) == actor,
                col(UiSession.revoked_at).is_(None),
                col(UiSession.expires_at) > now,
            )
            .values(revoked_at=now)
        ).rowcount  # type: ignore[attr-defined]
        s.execute(
            update(UiLink)
            .where(col(UiLink.actor) == actor, col(UiLink.used_at).is_(None))
            .values(used_at=now)
        )
    return int(n or 0)
