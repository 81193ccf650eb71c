"""Read the research agent's settings: the fetch limits and which addresses it may reach (see bot/agents.py)."""

from __future__ import annotations

import ipaddress

from bot.settings import Settings
from connectors.netcheck import EVERYWHERE, AddressPolicy
from connectors.web import FetchLimits


def fetch_limits(settings: Settings) -> FetchLimits:
    """Return the fetch limits of the settings (COO_FETCH_MAX_BYTES, COO_FETCH_TIMEOUT_S)."""
    t = settings.coo_fetch_timeout_s
    return FetchLimits(
        max_bytes=settings.coo_fetch_max_bytes,
        connect_timeout_s=min(t, 5.0),
        read_timeout_s=t,
        total_timeout_s=max(3 * t, 30.0),
    )


def address_policy(settings: Settings) -> AddressPolicy:
    """Return which addresses research may reach (COO_FETCH_ALLOW_PRIVATE, COO_FETCH_ALLOW_NETWORKS).

    Raises:
        ValueError: A network in COO_FETCH_ALLOW_NETWORKS is not a CIDR.
    """
    if settings.coo_fetch_allow_private:
        return AddressPolicy(EVERYWHERE)
    try:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in settings.coo_fetch_allow_networks)
    except ValueError as exc:
        raise ValueError(f"COO_FETCH_ALLOW_NETWORKS: {exc}") from None
    return AddressPolicy(nets)
