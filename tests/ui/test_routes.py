"""Every route of the web console: no data without a session, CSRF on every form, one-time links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.commands import handle
from graph import outcomes as o
from memory import ui_sessions
from memory.tables import Approval, Event, Run, utcnow

PAGES = [
    "/ui/inbox",
    "/ui/runs",
    "/ui/runs/run_x",
    "/ui/backfill",
    "/ui/backfill/bf_x",
    "/ui/budget",
    "/ui/approvals/ap_x/edit",
]
FORMS = [
    "/ui/logout",
    "/ui/approvals/ap_x/decide",
    "/ui/approvals/ap_x/edit",
    "/ui/runs/run_x",
    "/ui/backfill",
]


@pytest.mark.parametrize("path", PAGES + ["/ui/"])
def test_without_a_session_every_page_redirects_to_the_explanation(web, path):
    web.say("expense 12 paper")  # there is something to leak
    r = web.client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] in ("/ui/signin", "/ui/inbox")
    page = web.client.get(path)
    assert "type <code>/login</code> to coo" in page.text
    assert "paper" not in page.text and "expense" not in page.text


@pytest.mark.parametrize("path", FORMS)
def test_without_a_session_no_form_does_anything(web, path):
    web.say("expense 12 paper")
    r = web.client.post(
        path, data={"decision": "approve", "do": "retry", "run": "run_x"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/signin"
    with Session(web.app.db) as s:
        assert [a.status for a in s.exec(select(Approval)).all()] == ["pending"]


@pytest.mark.parametrize("path", FORMS)
def test_a_form_without_its_csrf_token_is_refused(web, path):
    [ask] = [x for x in web.say("expense 12 paper") if isinstance(x, o.Ask)]
    web.sign_in()
    path = path.replace("ap_x", ask.approval_id)
    for token in ("", "0" * 64):
        r = web.client.post(
            path, data={"csrf": token, "decision": "approve", "do": "retry"}, follow_redirects=False
        )
        assert r.status_code == 403, (path, r.status_code)
    with Session(web.app.db) as s:
        assert s.get(Approval, ask.approval_id).status == "pending"
    assert web.client.get("/ui/inbox").status_code == 200  # still signed in: logout refused too


def test_a_link_works_once_and_sets_a_strict_cookie(web):
    token = web.link()
    first = web.client.get(f"/ui/login/{token}")  # opening it uses nothing (link previews)
    assert first.status_code == 200 and "Sign in" in first.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', first.text).group(1)
    r = web.client.post(f"/ui/login/{token}", data={"nonce": nonce}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "coo_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "max-age=604800" in cookie and "secure" not in cookie  # http://127.0.0.1: not Secure
    assert web.client.get("/ui/inbox").status_code == 200
    web.client.cookies.clear()
    again = web.client.get(f"/ui/login/{token}")
    nonce = re.search(r'name="nonce" value="([^"]+)"', again.text).group(1)
    r = web.client.post(f"/ui/login/{token}", data={"nonce": nonce}, follow_redirects=False)
    assert r.status_code == 403 and "already used" in r.text
    assert web.client.get("/ui/inbox", follow_redirects=False).status_code == 303


def test_a_link_expires_after_ten_minutes(web):
    token = web.link()
    with Session(web.app.db) as s:
        link = s.get(ui_sessions.UiLink, ui_sessions.digest(token))
        assert link.expires_at - link.created_at == timedelta(minutes=10)
        link.expires_at = utcnow() - timedelta(seconds=1)
        s.add(link)
        s.commit()
    page = web.client.get(f"/ui/login/{token}")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    r = web.client.post(f"/ui/login/{token}", data={"nonce": nonce}, follow_redirects=False)
    assert r.status_code == 403 and "expired" in r.text


def test_a_sign_in_form_posted_from_elsewhere_is_refused(web):
    token = web.link()
    r = web.client.post(f"/ui/login/{token}", data={"nonce": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert ui_sessions.redeem(web.app.db, token, timedelta(days=7)) is not None  # the link was not used


def test_secure_cookie_behind_https(app_factory):
    from tests.ui.conftest import Web

    app = app_factory(settings={"coo_public_url": "https://coo.example.com/"})
    w = Web(app, base_url="https://coo.example.com")
    assert app.settings.public_url == "https://coo.example.com"
    token = w.link()
    page = w.client.get(f"/ui/login/{token}")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    r = w.client.post(f"/ui/login/{token}", data={"nonce": nonce}, follow_redirects=False)
    assert "secure" in r.headers["set-cookie"].lower()


def test_only_operators_get_links_and_logout_all_ends_sessions(web):
    [refused] = handle(web.app, "slack:U999", "/login")
    assert "Only this workspace's operators" in refused.text and "/ui/login/" not in refused.text
    [given] = handle(web.app, "slack:U1", "/login")
    assert f"{web.app.settings.public_url}/ui/login/" in given.text
    web.sign_in("slack:U1")
    assert web.client.get("/ui/inbox").status_code == 200
    [bye] = handle(web.app, "slack:U1", "/logout all")
    assert "1 session ended" in bye.text
    assert web.client.get("/ui/inbox", follow_redirects=False).headers["location"] == "/ui/signin"


def test_signing_out_ends_the_session(web):
    web.sign_in()
    r = web.client.post("/ui/logout", data={"csrf": web.csrf()}, follow_redirects=False)
    assert r.status_code == 303
    assert web.client.get("/ui/inbox", follow_redirects=False).status_code == 303


def test_sessions_and_links_are_stored_hashed(web):
    token = web.link()
    web.sign_in()
    session = web.client.cookies.get("coo_session")
    with Session(web.app.db) as s:
        stored = [x.token_hash for x in s.exec(select(ui_sessions.UiLink)).all()]
        stored += [x.token_hash for x in s.exec(select(ui_sessions.UiSession)).all()]
    assert token not in stored and session not in stored and ui_sessions.digest(token) in stored


def test_inbox_shows_the_card_and_approve_carries_it_out_and_updates_chat(web):
    [ask] = [x for x in web.say("expense 12 paper") if isinstance(x, o.Ask)]
    web.sign_in()
    page = web.client.get("/ui/inbox")
    assert f"Approve? {ask.action.summary}" in page.text and "Why I ask" in page.text
    r = web.client.post(
        f"/ui/approvals/{ask.approval_id}/decide", data={"csrf": web.csrf(), "decision": "approve"}
    )
    assert r.status_code == 200 and "Approved" in r.text
    assert ask.action.summary not in web.client.get("/ui/inbox").text
    printed = web.printed.getvalue()
    assert "Approved by console:local" in printed and "Done:" in printed
    # the same click again (e.g. from chat) is refused: decided once
    r = web.client.post(
        f"/ui/approvals/{ask.approval_id}/decide", data={"csrf": web.csrf(), "decision": "reject"}
    )
    assert "Already approved" in r.text


def test_a_decision_in_chat_shows_in_the_web(web):
    [ask] = [x for x in web.say("expense 12 paper") if isinstance(x, o.Ask)]
    web.sign_in()
    assert ask.approval_id in web.client.get("/ui/inbox").text
    web.app.engine.decide(ask.approval_id, False, "console:local")
    assert ask.approval_id not in web.client.get("/ui/inbox").text
    assert ask.run_id in web.client.get("/ui/runs").text
    page = web.client.get(f"/ui/runs/{ask.run_id}")
    assert f"{ask.approval_id} rejected by console:local" in page.text


def test_edit_is_checked_by_the_schema_then_posts_a_new_card(web):
    [ask] = [x for x in web.say("expense 12 paper") if isinstance(x, o.Ask)]
    web.sign_in()
    form = web.client.get(f"/ui/approvals/{ask.approval_id}/edit")
    assert form.status_code == 200 and 'name="arg:' in form.text
    names = re.findall(r'name="arg:([^"]+)"', form.text)
    values = {f"arg:{n}": v for n, v in re.findall(r'name="arg:([^"]+)" value="([^"]*)"', form.text)}
    amount = next(n for n in names if "amount" in n)
    bad = {**values, f"arg:{amount}": "twelve", "csrf": web.csrf()}
    r = web.client.post(f"/ui/approvals/{ask.approval_id}/edit", data=bad)
    assert r.status_code == 400 and "Nothing" not in r.text and 'role="alert"' in r.text
    with Session(web.app.db) as s:
        assert s.get(Approval, ask.approval_id).status == "pending"
    good = {**values, f"arg:{amount}": "13", "csrf": web.csrf()}
    r = web.client.post(f"/ui/approvals/{ask.approval_id}/edit", data=good)
    assert r.status_code == 200, r.text
    cards = web.app.engine.pending()
    assert len(cards) == 1 and cards[0].approval_id != ask.approval_id
    assert "13" in str(cards[0].action.arguments)


def test_runs_filters_failed_first_and_run_page(web):
    web.say("balance")
    [ask] = [x for x in web.say("expense 12 paper") if isinstance(x, o.Ask)]
    with Session(web.app.db) as s:
        run = s.get(Run, ask.run_id)
        run.status, run.error = "failed", "boom"
        s.add(run)
        s.commit()
    web.sign_in()
    page = web.client.get("/ui/runs").text
    assert page.index(ask.run_id) < page.index("balance")
    only = web.client.get("/ui/runs", params={"status": "failed"}).text
    assert ask.run_id in only and "balance" not in only
    assert "balance" in web.client.get("/ui/runs", params={"channel": "console"}).text
    assert "No runs match" in web.client.get("/ui/runs", params={"channel": "slack"}).text
    assert "No runs match" in web.client.get("/ui/runs", params={"since": "2999-01-01"}).text
    assert "No runs match" in web.client.get("/ui/runs", params={"agent": "research"}).text
    assert ask.run_id in web.client.get("/ui/runs", params={"agent": ask.action.agent}).text
    detail = web.client.get(f"/ui/runs/{ask.run_id}").text
    assert "Timeline" in detail and "Replay from here" in detail and "planner and prompt version" in detail
    assert web.client.get("/ui/runs/run_nope").status_code == 404


def test_backfill_and_budget_pages(web):
    web.sign_in()
    assert "No failed runs" in web.client.get("/ui/backfill").text
    r = web.client.post("/ui/backfill", data={"csrf": web.csrf()})
    assert "Select at least one" in r.text
    budget = web.client.get("/ui/budget")
    assert budget.status_code == 200 and "<svg" in budget.text and "Ladder now" in budget.text
    assert web.client.get("/ui/backfill/bf_nope").status_code == 404


def test_static_css_ships_in_the_package(web):
    r = web.client.get("/ui/static/ui.css")
    assert r.status_code == 200 and "body" in r.text


def test_undo_and_replay_from_a_checkpoint_on_the_run_page(web):
    [ask] = [x for x in web.say("expense 12 paper") if isinstance(x, o.Ask)]
    web.app.engine.decide(ask.approval_id, True, "console:local")
    web.sign_in()
    page = web.client.get(f"/ui/runs/{ask.run_id}").text
    [event] = re.findall(r'name="event" value="([^"]+)"', page)
    steps = re.findall(r'name="step" value="([^"]+)"', page)
    assert steps[:2] == ["plan", "policy"] and "execute" in steps
    csrf = web.csrf(f"/ui/runs/{ask.run_id}")
    r = web.client.post(f"/ui/runs/{ask.run_id}", data={"csrf": csrf, "do": "replay", "step": "execute"})
    assert r.status_code == 200 and 'role="status"' in r.text
    assert web.printed.getvalue().startswith("Already done: Recorded expense")  # reported in chat, not redone
    with Session(web.app.db) as s:
        effects = [
            e for e in s.exec(select(Event).where(Event.run_id == ask.run_id)).all() if e.kind == "effect"
        ]
    assert len(effects) == 1  # replayed, not repeated
    r = web.client.post(f"/ui/runs/{ask.run_id}", data={"csrf": csrf, "do": "undo", "event": event})
    assert "Undone" in r.text and "Undone:" in web.printed.getvalue()
    assert 'name="event"' not in web.client.get(f"/ui/runs/{ask.run_id}").text


def test_a_notice_cannot_be_forged_by_a_link(web):
    web.sign_in()
    page = web.client.get("/ui/inbox", params={"said": "Go to evil.example", "note": "made-up"})
    assert "evil.example" not in page.text and 'class="notice"' not in page.text


def test_a_session_ends_when_its_operator_is_removed(web):
    web.sign_in("slack:U1")
    assert web.client.get("/ui/inbox").status_code == 200
    web.app.settings.coo_operators = []
    assert web.client.get("/ui/inbox", follow_redirects=False).headers["location"] == "/ui/signin"
