"""The web-fetch connector: GET one page over an injected ``httpx.Client``, within limits.

A fetch is a read of the outside world, yet the URL itself leaves the building, so the engine asks
before it runs (see ``agents/research.py``). What this module guarantees:

- only ``http``/``https``; every redirect hop (at most ``max_redirects``) is parsed and checked again;
- the host's name is resolved here and every address it resolves to is checked (``netcheck``); the
  request then goes to the checked address itself (the URL carries the IP, ``Host`` and TLS SNI carry
  the name), so a DNS answer that changes between check and connect (DNS rebinding) cannot redirect it;
- connect and read timeouts, plus a deadline for the whole body (a server dripping bytes);
- the body is streamed and reading stops at ``max_bytes`` (decoded, so a gzip bomb stops too); the
  page then says it was truncated;
- only ``text/html`` (and XHTML) and ``text/plain``; anything else is refused before its body is read.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from connectors.errors import ContentRefused, FetchFailed, FetchUnavailable, UrlRefused
from connectors.netcheck import AddressPolicy, IPAddress, check_url, literal_ip

Resolver = Callable[[str, int], list[str]]
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain",)
_REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "coo-research/1 (+https://github.com/coo)"


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve a name to its addresses with the system resolver.

    Raises:
        OSError: The name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchLimits:
    """How far a fetch may go.

    Attributes:
        max_bytes: Body bytes read at most (after decompression); the rest is not read.
        connect_timeout_s: Connecting (and TLS) may take this long.
        read_timeout_s: The server may stay silent this long between bytes.
        total_timeout_s: Reading the whole body may take this long.
        max_redirects: Redirects followed at most.
    """

    max_bytes: int = 1_000_000
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_redirects: int = 5


@dataclass(frozen=True)
class Page:
    """A fetched page: where it ended up, what it is, and its (possibly truncated) body."""

    url: str  # as asked
    final_url: str  # after redirects
    status: int
    content_type: str  # the media type alone, lower case
    charset: str | None
    body: bytes
    truncated: bool
    redirects: tuple[str, ...] = ()

    @property
    def is_html(self) -> bool:
        """Tell whether the body is HTML."""
        return self.content_type in HTML_TYPES

    def text(self) -> str:
        """Return the body decoded (its charset, else UTF-8; undecodable bytes replaced)."""
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


class Fetcher:
    """Fetches pages over an injected client, checking every address it connects to.

    Its one operation, a GET, is a read (``side_effect``): it changes nothing on the server, needs no
    idempotency key and has nothing to compensate. What it sends out is the URL, which is why the
    research action that asks for it is a reviewed, reversible write of our own memory.
    """

    side_effect = "read"

    def __init__(
        self,
        client: httpx.Client,
        *,
        limits: FetchLimits | None = None,
        addresses: AddressPolicy | None = None,
        resolve: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.limits = limits or FetchLimits()
        self.addresses = addresses or AddressPolicy()
        self.resolve = resolve
        self.clock = clock
        self.requests = 0  # counted so tests can prove what went out

    def fetch(self, raw_url: str) -> Page:
        """GET a page, following redirects by hand with every hop checked again.

        Raises:
            UrlRefused: A scheme, address or redirect we do not follow (nothing was sent there).
            ContentRefused: The content type is not text/html or text/plain.
            FetchFailed: The server answered with an error status.
            FetchUnavailable: No connection, no DNS answer, or a timeout.
        """
        url = check_url(raw_url, self.addresses)
        hops: list[str] = []
        while True:
            response = self._open(url)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    if len(hops) >= self.limits.max_redirects:
                        raise UrlRefused(
                            f"{raw_url}: more than {self.limits.max_redirects} redirects", url=str(url)
                        )
                    hops.append(str(url))
                    try:
                        url = check_url(str(url.join(location)), self.addresses)
                    except UrlRefused as exc:
                        raise UrlRefused(f"{url} redirected to {exc}", url=exc.url) from None
                    continue
                return self._read(raw_url, url, response, tuple(hops))
            finally:
                response.close()

    # ---- one hop --------------------------------------------------------------------------------

    def _pinned(self, url: httpx.URL) -> tuple[httpx.URL, str]:
        """Return the URL with its host replaced by a checked address, and the Host header."""
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        ip = literal_ip(host)
        if ip is not None:
            return url, url.netloc.decode("ascii")
        try:
            found = self.resolve(host, port)
        except OSError as exc:
            raise FetchUnavailable(f"{host} could not be resolved ({exc})", url=str(url)) from None
        ips: list[IPAddress] = []
        for text in found:
            try:
                ips.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                continue
        if not ips:
            raise FetchUnavailable(f"{host} has no address", url=str(url))
        self.addresses.check_all(ips, str(url))
        return url.copy_with(host=str(ips[0])), url.netloc.decode("ascii")

    def _open(self, url: httpx.URL) -> httpx.Response:
        target, host_header = self._pinned(url)
        lim = self.limits
        timeout = httpx.Timeout(lim.read_timeout_s, connect=lim.connect_timeout_s)
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        accept = "text/html,application/xhtml+xml,text/plain;q=0.9"
        request = self.client.build_request(
            "GET",
            target,
            headers={"Host": host_header, "Accept": accept, "User-Agent": USER_AGENT},
            timeout=timeout,
            extensions=extensions,
        )
        self.requests += 1
        try:
            return self.client.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectTimeout:
            raise FetchUnavailable(
                f"{url.host} could not be connected to within {lim.connect_timeout_s:g} s", url=str(url)
            ) from None
        except httpx.TimeoutException:
            raise FetchUnavailable(
                f"{url.host} did not answer within {lim.read_timeout_s:g} s", url=str(url)
            ) from None
        except httpx.TransportError as exc:
            raise FetchUnavailable(
                f"{url.host} could not be reached ({type(exc).__name__})", url=str(url)
            ) from None

    def _read(self, asked: str, url: httpx.URL, response: httpx.Response, hops: tuple[str, ...]) -> Page:
        status = response.status_code
        if status >= 400 or status < 200:
            raise FetchFailed(f"{url} answered HTTP {status}", url=str(url), status=status)
        if status in _REDIRECTS:
            raise FetchFailed(f"{url} redirected without a Location", url=str(url), status=status)
        media, _, params = response.headers.get("content-type", "").partition(";")
        media = media.strip().lower()
        if media not in HTML_TYPES + TEXT_TYPES:
            shown = media or "no content type"
            raise ContentRefused(
                f"{url} is {shown}; only text/html and text/plain pages are read", url=str(url)
            )
        body, truncated = self._body(url, response)
        charset = _charset(params)
        return Page(asked, str(url), status, media, charset, body, truncated, hops)

    def _body(self, url: httpx.URL, response: httpx.Response) -> tuple[bytes, bool]:
        cap = self.limits.max_bytes
        deadline = self.clock() + self.limits.total_timeout_s
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                if size + len(chunk) > cap:
                    chunks.append(chunk[: cap - size])
                    return b"".join(chunks), True  # the rest is never read
                chunks.append(chunk)
                size += len(chunk)
                if self.clock() > deadline:
                    raise FetchUnavailable(
                        f"{url.host} took longer than {self.limits.total_timeout_s:g} s to send the page",
                        url=str(url),
                    )
        except httpx.TimeoutException:
            raise FetchUnavailable(
                f"{url.host} stopped sending for {self.limits.read_timeout_s:g} s", url=str(url)
            ) from None
        except httpx.HTTPError as exc:
            raise FetchUnavailable(
                f"{url.host} broke off the page ({type(exc).__name__})", url=str(url)
            ) from None
        return b"".join(chunks), False


def _charset(params: str) -> str | None:
    for part in params.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"').lower()
    return None


def new_client() -> httpx.Client:
    """Return the client the application fetches with (no proxies from the environment: we pin IPs)."""
    return httpx.Client(trust_env=False, follow_redirects=False, headers={"User-Agent": USER_AGENT})
