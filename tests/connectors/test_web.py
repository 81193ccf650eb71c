"""The web-fetch connector against a real loopback website: real httpx, real HTTP, real parsing."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from connectors.errors import ContentRefused, FetchFailed, FetchUnavailable, UrlRefused
from connectors.netcheck import EVERYWHERE, AddressPolicy, check_url, refusal
from connectors.web import Fetcher, FetchLimits
from connectors.web_text import extract, extract_html
from tests.fakes.web_server import web_site

LOOPBACK = AddressPolicy((ipaddress.ip_network("127.0.0.0/8"),))


@pytest.fixture
def site():
    with web_site() as s:
        yield s


@pytest.fixture
def client():
    with httpx.Client(trust_env=False) as c:
        yield c


def fetcher(client: httpx.Client, **limits: float) -> Fetcher:
    return Fetcher(client, limits=FetchLimits(**limits), addresses=LOOPBACK)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "private"),  # "this network"
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not public"),  # carrier-grade NAT
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
    ],
)
def test_non_public_addresses_are_refused_by_kind(address, why):
    assert refusal(ipaddress.ip_address(address)) == why
    with pytest.raises(UrlRefused, match="COO_FETCH_ALLOW_PRIVATE"):
        AddressPolicy().check(ipaddress.ip_address(address), "http://x/")


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.org/x", "only http and https"),
        ("gopher://example.org/", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("example.org/page", "only http and https"),
        ("http://user:secret@example.org/", "user name or password"),
        ("http://127.0.0.1:8080/a", "loopback"),
        ("http://[::1]/a", "loopback"),
        ("http://[::ffff:7f00:1]/a", "loopback"),
        ("http://localhost:9/a", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ],
)
def test_urls_refused_before_anything_is_sent(url, match, client):
    f = Fetcher(client)
    with pytest.raises(UrlRefused, match=match):
        f.fetch(url)
    assert f.requests == 0


def test_allowing_private_lets_loopback_through_and_nothing_else_changes():
    assert str(check_url("http://127.0.0.1:5/a", AddressPolicy(EVERYWHERE))) == "http://127.0.0.1:5/a"
    with pytest.raises(UrlRefused):
        check_url("file:///etc/passwd", AddressPolicy(EVERYWHERE))


def test_fetch_html_and_extract_title_text_and_absolute_links(site, client):
    sitestate, base = site
    page = fetcher(client).fetch(f"{base}/page/a")
    assert (page.status, page.content_type, page.charset, page.truncated) == (
        200,
        "text/html",
        "utf-8",
        False,
    )
    got = extract(page)
    assert got.title == "Oat milk market 2026"
    assert "Oat milk sales grew 12 percent in 2026." in got.text
    # Script, style, nav and footer are gone; links are absolute, without fragments.
    for gone in ("do not read me", "color: red", "Home", "Footer Corp"):
        assert gone not in got.text
    assert got.links == [f"{base}/home", f"{base}/about", f"{base}/b", "https://example.org/press"]
    assert sitestate.count("/page/a") == 1


def test_plain_text_is_read_as_is(site, client):
    _, base = site
    page = fetcher(client).fetch(f"{base}/notes.txt")
    got = extract(page)
    assert page.content_type == "text/plain"
    assert got.title == "Plain notes"
    assert got.text == "Plain notes\nOat milk keeps for ten days once opened."


def test_redirects_are_followed_by_hand_and_counted(site, client):
    sitestate, base = site
    page = fetcher(client).fetch(f"{base}/redirect?n=2")
    assert page.final_url == f"{base}/page/b"
    assert len(page.redirects) == 3
    with pytest.raises(UrlRefused, match="more than 5 redirects"):
        fetcher(client).fetch(f"{base}/redirect?n=9")
    assert sitestate.count("/page/b") == 1  # the refused chain never reached its end


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/admin",
        "http://[::1]:80/",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_a_private_address_or_another_scheme_is_refused(site, client, target):
    sitestate, base = site
    sitestate.redirect_to = target
    f = fetcher(client)
    with pytest.raises(UrlRefused) as err:
        f.fetch(f"{base}/to-private")
    assert f.requests == 1  # only the first hop went out
    assert err.value.permanent


def test_a_page_larger_than_the_cap_is_cut_at_the_cap(site, client):
    _, base = site
    page = fetcher(client, max_bytes=50_000).fetch(f"{base}/big")
    assert page.truncated
    assert len(page.body) == 50_000
    exact = fetcher(client, max_bytes=len(b"Plain notes\nOat milk keeps for ten days once opened.")).fetch(
        f"{base}/notes.txt"
    )
    assert not exact.truncated  # a page of exactly the cap is whole


def test_a_silent_server_times_out_with_a_temporary_error(site, client):
    _, base = site
    with pytest.raises(FetchUnavailable, match="did not answer within 0.3 s") as err:
        fetcher(client, read_timeout_s=0.3).fetch(f"{base}/slow")
    assert not err.value.permanent


def test_binary_content_is_refused_without_reading_it(site, client):
    _, base = site
    with pytest.raises(ContentRefused, match="image/png; only text/html and text/plain"):
        fetcher(client).fetch(f"{base}/image.png")


def test_error_statuses_say_whether_to_retry(site, client):
    _, base = site
    with pytest.raises(FetchFailed, match="HTTP 404") as missing:
        fetcher(client).fetch(f"{base}/page/nope")
    assert missing.value.permanent and missing.value.status == 404
    with pytest.raises(FetchFailed, match="HTTP 503") as down:
        fetcher(client).fetch(f"{base}/broken")
    assert not down.value.permanent


def test_no_server_is_a_temporary_error(client):
    from tests.fakes.smtp_server import free_port

    with pytest.raises(FetchUnavailable, match="could not be reached") as err:
        fetcher(client).fetch(f"http://127.0.0.1:{free_port()}/")
    assert not err.value.permanent


def test_names_are_resolved_checked_and_the_checked_address_is_the_one_connected_to(site, client):
    sitestate, base = site
    port = int(base.rsplit(":", 1)[1])
    asked: list[str] = []

    def resolve(host: str, p: int) -> list[str]:
        asked.append(host)
        return {"news.test": ["127.0.0.1"], "rebind.test": ["127.0.0.1", "10.0.0.7"]}[host]

    f = Fetcher(client, addresses=LOOPBACK, resolve=resolve)
    page = f.fetch(f"http://news.test:{port}/page/b")
    # The request went to the address that was checked, carrying the name in Host.
    assert sitestate.hits[-1] == ("/page/b", f"news.test:{port}")
    assert page.final_url == f"http://news.test:{port}/page/b"
    # A name with any refused address is refused, whichever address comes first.
    with pytest.raises(UrlRefused, match="private address \\(10.0.0.7\\)"):
        f.fetch(f"http://rebind.test:{port}/page/b")
    assert asked == ["news.test", "rebind.test"]
    assert f.requests == 1


def test_a_name_that_does_not_resolve_is_a_temporary_error(client):
    def resolve(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(FetchUnavailable, match="could not be resolved"):
        Fetcher(client, resolve=resolve).fetch("http://nowhere.test/")


def test_extract_prefers_main_and_falls_back_to_h1_for_a_title():
    got = extract_html(
        "<html><body><header>Site</header><article><h1>Report</h1><p>Body  text\n here.</p></article>"
        "<aside>ads</aside></body></html>",
        "https://example.org/x/",
    )
    assert (got.title, got.text) == ("Report", "Report\nBody text here.")


def test_an_ipv6_address_is_pinned_in_brackets_with_the_name_in_host(client):
    with web_site(host="::1") as (sitestate, url):
        port = int(url.rsplit(":", 1)[1])
        allow = AddressPolicy((ipaddress.ip_network("::1/128"),))
        f = Fetcher(client, addresses=allow, resolve=lambda host, p: ["::1"])
        page = f.fetch(f"http://v6.test:{port}/page/b")
        assert extract(page).title == "Supply report"
        assert sitestate.hits == [("/page/b", f"v6.test:{port}")]
        # The literal form works too, and is checked like any other address.
        assert f.fetch(f"http://[::1]:{port}/notes.txt").content_type == "text/plain"
        with pytest.raises(UrlRefused, match="loopback"):
            Fetcher(client).fetch(f"http://[::1]:{port}/notes.txt")
