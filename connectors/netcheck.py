"""Which URLs and addresses the web connector may reach, decided without any network I/O.

Only ``http`` and ``https``; no credentials in the URL; and no address that is private, loopback,
link-local, multicast, reserved, unspecified or otherwise not global, in IPv4 or IPv6, including
IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64) — unless the caller allows the
address's network explicitly (tests on loopback, a deployment that researches an intranet).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from connectors.errors import UrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_FLAGS = ("loopback", "link_local", "multicast", "unspecified", "reserved", "private")  # most telling first
EVERYWHERE: tuple[IPNetwork, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress) -> str | None:
    """Return why an address is not public ("loopback", "private", ...), or None when it is."""
    inner = embedded_v4(ip)
    if inner is not None:
        why = refusal(inner)
        if why is not None:
            return why
    for flag in _FLAGS:
        if getattr(ip, f"is_{flag}"):
            return flag.replace("_", "-")
    if not ip.is_global:
        return "not public"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which non-public addresses may still be reached (none by default).

    Attributes:
        allowed: Networks reachable even when not public (``EVERYWHERE`` allows every address).
    """

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_flag(cls, allow_private: bool) -> AddressPolicy:
        """Return the policy of the ``COO_FETCH_ALLOW_PRIVATE`` setting."""
        return cls(EVERYWHERE if allow_private else ())

    def check(self, ip: IPAddress, url: str) -> None:
        """Refuse an address that is not public and not explicitly allowed.

        Raises:
            UrlRefused: The address may not be reached.
        """
        why = refusal(ip)
        if why is None:
            return
        inner = embedded_v4(ip)
        if any(ip in net or (inner is not None and inner in net) for net in self.allowed):
            return
        raise UrlRefused(
            f"{url} points at a {why} address ({ip}); private addresses are not fetched "
            "(COO_FETCH_ALLOW_PRIVATE=true allows them)",
            url=url,
        )

    def check_all(self, ips: Iterable[IPAddress], url: str) -> None:
        """Refuse when any of the addresses is refused (a name must not resolve anywhere private)."""
        for ip in ips:
            self.check(ip, url)


def literal_ip(host: str) -> IPAddress | None:
    """Return the address when a URL's host is an IP literal (``[::1]`` or ``127.0.0.1``), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def parse_url(raw: str) -> httpx.URL:
    """Parse a URL we may fetch: http(s), a host, no user or password.

    Raises:
        UrlRefused: Another scheme, no host, credentials, or not a URL at all.
    """
    text = raw.strip()
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UrlRefused(f"{text[:200]} is not a valid URL", url=text) from None
    if url.scheme not in SCHEMES:
        shown = url.scheme or "no scheme"
        raise UrlRefused(f"{text[:200]}: only http and https URLs are fetched (not {shown})", url=text)
    if not url.host:
        raise UrlRefused(f"{text[:200]} has no host", url=text)
    if url.userinfo:
        raise UrlRefused(f"{url.host}: URLs with a user name or password are not fetched", url=text)
    return url


def check_url(raw: str, policy: AddressPolicy) -> httpx.URL:
    """Parse a URL and refuse it already when its host is a refused IP literal or ``localhost``.

    No name is resolved here (resolving sends the name out): names are checked when fetched.

    Raises:
        UrlRefused: Why the URL is not fetched.
    """
    url = parse_url(raw)
    host = url.host.rstrip(".").lower()
    ip = literal_ip(host)
    if ip is None and (host == "localhost" or host.endswith(".localhost")):
        ip = ipaddress.ip_address("127.0.0.1")
    if ip is not None:
        policy.check(ip, str(url))
    return url
