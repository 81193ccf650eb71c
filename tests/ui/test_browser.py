"""The web console in a real browser: headless Chromium (Debian's) driven by Selenium, against coo's
real server with Slack connected to the fake Slack Web API.

Locally these skip, with the reason, when Chromium, chromedriver or Selenium is missing; with CI=true a
missing browser is a failure (`.ci/run` installs it first). Screenshots of each page go to the test's
tmp dir (``artifacts/``), and also to ``$UI_SCREENSHOTS_DIR`` when set (README's docs/ui/).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.server import build_server
from bot.ui import mount
from tests.bot.slack.harness import OPS, Slack, buttons, dm_event, fake_slack, text_of
from tests.fakes.server import serve, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(os.path.basename(path))):
            return f"{path} is missing (apt-get install -y chromium chromium-driver)"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    why = _missing()
    if why:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the browser tests must run in CI: {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium") or CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,900",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or CHROMEDRIVER), options=opts)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


class Shots:
    """Saves a screenshot of each page (the whole page, not just the window)."""

    def __init__(self, driver: Any, tmp_path: Path) -> None:
        self.driver = driver
        self.dirs = [tmp_path / "artifacts"]
        if os.environ.get("UI_SCREENSHOTS_DIR"):
            self.dirs.append(Path(os.environ["UI_SCREENSHOTS_DIR"]))
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, name: str, width: int = 1200) -> None:
        self.driver.set_window_size(width, 900)  # the height at this width, then the whole page
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, min(max(int(height) + 40, 500), 2400))
        for d in self.dirs:
            path = d / f"{name}.png"
            self.driver.save_screenshot(str(path))
            self.taken.append(path)
        self.driver.set_window_size(1200, 900)


def _wait(driver: Any, css: str, text: str | None = None) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if text is None:
        return WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))
    WebDriverWait(driver, 20).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element(By.CSS_SELECTOR, css)


def _go(driver: Any, element: Any) -> None:
    """Click what loads a new page (a link, a form's button), and wait until the old page is gone.

    Reading the next page before then may read the old one: a node found in the old document and read
    after the new one commits fails ("Node with given id does not belong to the document").
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:  # Chromium's word for the same, mid-navigation
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    WebDriverWait(driver, 20).until(replaced)


def _say(slack: Slack, text: str) -> dict[str, Any]:
    slack.event(dm_event(text))
    slack.drain()
    return slack.posted()[-1]


def _click(slack: Slack, action: str, message: dict[str, Any]) -> dict[str, Any]:
    slack.click(action, buttons(message)[action], message=message)
    slack.drain()
    return slack.posted()[-1]


def _spent_last_week(app: Any) -> None:
    """Model calls on past days (the rule-based model here costs nothing), for the budget's charts."""
    from datetime import timedelta

    from sqlmodel import Session

    from memory.tables import Spend

    today = app.ledger.today()
    with Session(app.db) as s:
        for back in range(8):
            for agent, usd in (("planner", 0.3 + 0.1 * (back % 3)), ("research", 0.2 * (back % 2))):
                day = today - timedelta(days=back)
                s.add(
                    Spend(
                        run_id="run_seed",
                        agent=agent,
                        model="gpt-4o-mini",
                        cost_usd=usd,
                        day=day.isoformat(),
                        rung="primary",
                    )
                )
        s.commit()


def test_sign_in_approve_in_the_web_and_replay_a_failed_run(app_factory, browser, tmp_path):
    from selenium.webdriver.common.by import By

    shots = Shots(browser, tmp_path)
    app = app_factory(settings={**OPS, "coo_budget_daily_usd": 2.5})
    number = f"INV-{datetime.now(UTC).year}-0001"
    with fake_slack() as (fake, fake_url):
        slack = Slack(app, fake, fake_url)
        slack.server = build_server(app, [slack.channel.mount(), mount(app)])
        with serve(slack.server, lifespan="on") as base, slack.http:
            slack.url = base
            # Without a session, the console explains how to get a link.
            browser.get(f"{base}/ui/runs")
            _wait(browser, "main h1", "Sign in to coo")
            shots("signin")
            # /login in Slack answers (ephemerally) with a one-time link.
            _, where = slack.command("/login")
            slack.drain()
            wait_for(lambda: fake.to(where), what="the /login answer")
            link = re.search(r"/ui/login/[\w-]+", fake.to(where)[-1]["text"]).group(0)
            browser.get(base + link)
            _go(browser, browser.find_element(By.CSS_SELECTOR, "main form button"))
            _wait(browser, "main h1", "Inbox")

            # A card asked in Slack is in the web inbox with the same content; approving it in the web
            # updates the Slack card in place.
            card = _say(slack, "invoice Acme 800 website")
            assert buttons(card)["approve"]
            browser.refresh()
            _wait(browser, "article.card h2", "Approve?")
            assert "Why I ask" in browser.find_element(By.CSS_SELECTOR, "article.card").text
            shots("inbox")
            shots("inbox-phone", width=390)
            _go(browser, browser.find_element(By.LINK_TEXT, "Edit"))
            _wait(browser, "main h1", "Edit:")
            shots("edit")
            browser.back()
            _wait(browser, "article.card h2", "Approve?")
            fake.reset()
            _go(browser, browser.find_element(By.CSS_SELECTOR, "article.card button[value=approve]"))
            _wait(browser, "p.notice", "Approved")
            slack.drain()
            [update] = fake.to("chat.update")
            assert (update["channel"], update["ts"]) == (card["channel"], card["ts"])
            assert text_of(fake.messages[(card["channel"], card["ts"])]).startswith("Approved by slack:W111")
            assert any("Done: " in text_of(m) for m in slack.posted())

            # Two payments of the same invoice, both approved in chat: the second fails.
            first, second = _say(slack, f"paid {number}"), _say(slack, f"paid {number}")
            paid = _click(slack, "approve", first)
            failed = _click(slack, "approve", second)
            run_id = buttons(failed)["retry"]
            _click(slack, "undo", paid)  # the first payment is undone: a retry can now succeed

            # The failed run comes first in Runs; its trace shows the failure; Retry replays it.
            browser.get(f"{base}/ui/runs")
            first_row = _wait(browser, "tbody tr")
            assert run_id in first_row.text and "failed" in first_row.text
            assert "bookkeeping" in first_row.text and "execute" not in first_row.text
            shots("runs")
            browser.get(f"{base}/ui/backfill")
            _wait(browser, "main h1", "Backfill")
            assert run_id in browser.find_element(By.CSS_SELECTOR, "fieldset").text
            shots("backfill")
            _go(browser, browser.find_element(By.LINK_TEXT, run_id))
            _wait(browser, "main h1", run_id)
            timeline = browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
            assert "already paid" in timeline and "Replay from here" in browser.page_source
            shots("run")
            fake.reset()
            _go(browser, browser.find_element(By.CSS_SELECTOR, "button[value=retry]"))
            _wait(browser, "p.notice", "Retried")
            slack.drain()
            assert any(
                text_of(m).startswith(f"Done: Marked {number} paid") for m in (fake.to("chat.postMessage"))
            ), fake.to("chat.postMessage")
            assert "done" in browser.find_element(By.CSS_SELECTOR, "dl.summary").text

            _spent_last_week(app)
            browser.get(f"{base}/ui/budget")
            _wait(browser, "main h1", "Budget")
            assert browser.find_elements(By.CSS_SELECTOR, "svg.chart")
            shots("budget")
    assert len({p.name for p in shots.taken}) == 8
    assert all(p.stat().st_size > 1000 for p in shots.taken)


def test_backfill_replays_failed_runs_in_order_and_shows_progress(app_factory, browser, tmp_path):
    from selenium.webdriver.common.by import By

    shots = Shots(browser, tmp_path)
    app = app_factory(settings=OPS)
    number = f"INV-{datetime.now(UTC).year}-0001"
    with fake_slack() as (fake, fake_url):
        slack = Slack(app, fake, fake_url)
        slack.server = build_server(app, [slack.channel.mount(), mount(app)])
        with serve(slack.server, lifespan="on") as base, slack.http:
            slack.url = base
            _click(slack, "approve", _say(slack, "invoice Acme 800 website"))
            cards = [_say(slack, f"paid {number}") for _ in range(3)]
            paid = _click(slack, "approve", cards[0])
            failed = [buttons(_click(slack, "approve", c))["retry"] for c in cards[1:]]
            _click(slack, "undo", paid)
            from bot.ui import login_reply

            link = re.search(r"/ui/login/[\w-]+", login_reply(app, "slack:W111")[0].text).group(0)
            browser.get(base + link)
            _go(browser, browser.find_element(By.CSS_SELECTOR, "main form button"))
            _wait(browser, "main h1", "Inbox")
            browser.get(f"{base}/ui/backfill")
            boxes = browser.find_elements(By.CSS_SELECTOR, "fieldset input[type=checkbox]")
            assert [b.get_attribute("value") for b in boxes] == failed  # oldest first
            _go(browser, browser.find_element(By.CSS_SELECTOR, "main form button.primary"))
            _wait(browser, "main h1", "Backfill bf_")
            _wait(browser, "p[role=status]", "Finished.")  # the page refreshes itself until then
            shots("backfill-progress")
            states = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".progress .state")]
            # in order: the first retry pays the invoice again; the second finds it already paid
            assert states[0].startswith("done") and states[1].startswith("failed"), states
