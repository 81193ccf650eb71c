"""Sign-in for the web console: one-time links sent in chat, then a session cookie; CSRF tokens.

Nothing here has a password. An operator types ``/login`` in chat and gets a link valid for
`LINK_TTL`, usable once; opening it and pressing *Sign in* sets a session cookie (HttpOnly, SameSite=Lax,
Secure when COO_PUBLIC_URL is https) that lasts `SESSION_TTL`, unless ``/logout all`` ends it first.
Each form carries a CSRF token derived from the session's secret (never stored).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from bot.app import App
from memory import ui_sessions

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(days=7)
COOKIE = "coo_session"
LOGIN_COOKIE = "coo_login"  # double-submit token of the sign-in form (there is no session yet)
PREFIX = "/ui"


def link_for(app: App, actor: str) -> str | None:
    """Return a fresh one-time sign-in link for an operator; None for anyone else."""
    if not app.is_operator(actor):
        return None
    token = ui_sessions.issue_link(app.db, actor, LINK_TTL)
    return f"{app.settings.public_url}{PREFIX}/login/{token}"


def secure(app: App) -> bool:
    """Tell whether cookies get the Secure flag (the console's public URL is https)."""
    return app.settings.public_url.startswith("https://")


def csrf_of(session: str) -> str:
    """Return the CSRF token of a session (derived from its secret, so nothing more is stored)."""
    return hashlib.sha256(b"coo-csrf:" + session.encode()).hexdigest()


def csrf_ok(session: str, given: str) -> bool:
    """Tell whether a form's token belongs to the session."""
    return bool(session) and hmac.compare_digest(csrf_of(session).encode(), given.encode("utf-8", "replace"))


def who(app: App, request: Request) -> tuple[str, str] | None:
    """Return (actor, session token) of a signed-in operator, or None."""
    session = request.cookies.get(COOKIE, "")
    actor = ui_sessions.actor_of(app.db, session) if session else None
    if actor is None or not app.is_operator(actor):  # an operator removed from COO_OPERATORS is out too
        return None
    return actor, session


def set_session(app: App, response: Response, session: str) -> None:
    """Put the session cookie on a response."""
    response.set_cookie(
        COOKIE,
        session,
        max_age=int(SESSION_TTL.total_seconds()),
        path=PREFIX,
        httponly=True,
        secure=secure(app),
        samesite="lax",
    )


def new_nonce() -> str:
    """Return a double-submit token for the sign-in form."""
    return secrets.token_urlsafe(16)


def set_nonce(app: App, response: Response, nonce: str) -> None:
    """Put the sign-in form's double-submit token on a response (a cross-site POST does not carry it)."""
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=600, path=PREFIX, httponly=True, secure=secure(app), samesite="lax"
    )


def csrf_ok_plain(expected: str, given: str) -> bool:
    """Compare a double-submit token in constant time."""
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
