"""A real CalDAV server for tests: Radicale in a subprocess on a free loopback port, with a temp store.

Login is htpasswd with plain passwords (user ``dana``, password ``s3cret``), so the client's
credentials are exercised. The server is stopped (terminated, then killed if it must be) afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.server import wait_for
from tests.fakes.smtp_server import free_port

USER = "dana"
PASSWORD = "s3cret"


@dataclass(frozen=True)
class Radicale:
    """A running server: its base URL and the login."""

    url: str
    username: str = USER
    password: str = PASSWORD

    @property
    def user_url(self) -> str:
        """Return the URL of the user's home collection."""
        return f"{self.url}/{self.username}/"


def _up(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return True


@contextmanager
def radicale_server(folder: Path) -> Iterator[Radicale]:
    """Run Radicale storing under ``folder``; yield it once it answers HTTP."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users").write_text(f"{USER}:{PASSWORD}\n")
    port = free_port()
    config = folder / "config"
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = htpasswd\n"
        f"htpasswd_filename = {folder / 'users'}\n"
        "htpasswd_encryption = plain\n"
        "delay = 0\n"
        "[storage]\n"
        f"filesystem_folder = {folder / 'store'}\n"
        "[logging]\n"
        "level = warning\n"
    )
    with (folder / "radicale.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)], stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: proc.poll() is None and _up(url), timeout=30, what="Radicale to start")
            yield Radicale(url)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def radicale_with_calendar(folder: Path, name: str = "Work", cal_id: str = "work") -> Iterator[Radicale]:
    """Run Radicale with one empty calendar for the user (made with the real caldav client)."""
    from caldav.davclient import DAVClient

    with radicale_server(folder) as server:
        with DAVClient(url=server.url + "/", username=server.username, password=server.password) as c:
            c.principal().make_calendar(name=name, cal_id=cal_id)
        yield server


def stored_events(server: Radicale, cal_id: str = "work") -> dict[str, str]:
    """Return what the server holds in a calendar, read independently of coo: {UID: SUMMARY}."""
    from caldav.collection import Calendar
    from caldav.davclient import DAVClient

    with DAVClient(url=server.url + "/", username=server.username, password=server.password) as c:
        cal = Calendar(client=c, url=f"{server.user_url}{cal_id}/")
        out: dict[str, str] = {}
        for obj in cal.events():
            comp = obj.icalendar_component
            out[str(comp["UID"])] = str(comp.get("SUMMARY", ""))
        return out
