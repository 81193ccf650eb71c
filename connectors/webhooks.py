"""Webhooks: signed outbound POSTs around an injected ``httpx.Client``, and the inbound signature check.

The signature scheme (the same both ways, Stripe-like):

* ``Webhook-Timestamp: <t>`` — Unix seconds when the request was signed;
* ``Webhook-Signature: t=<t>,v1=<hex>`` — ``hex`` is HMAC-SHA256, keyed by the shared secret (its
  UTF-8 bytes), over the bytes ``<t>.<body>``: the timestamp, a dot, and the raw request body exactly
  as sent. A header may carry several ``v1=`` values (a secret being rotated); one match is enough.
* ``Webhook-Id`` and ``Idempotency-Key`` — the action's idempotency key, the same on every retry, so a
  receiver that saw it before can drop the copy.

A receiver recomputes the HMAC over the body it received, compares in constant time, and refuses a
timestamp more than the tolerance (5 minutes) away from its clock, so a captured request cannot be
replayed later; a replay inside the window has the same ``Webhook-Id`` and is dropped as a duplicate.

Outbound answers: 2xx is done; 408, 429, 5xx, a timeout or no connection is worth another try (after
the receiver's ``Retry-After`` when it sends one); any other answer (4xx, a redirect) is final.
Redirects are never followed: they could lead a signed payload to a URL nobody allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.errors import SignatureInvalid, WebhookRejected, WebhookUnavailable

SIGNATURE_HEADER = "Webhook-Signature"
TIMESTAMP_HEADER = "Webhook-Timestamp"
ID_HEADER = "Webhook-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_S = 300.0
# ASCII only, and bounded: str.isdigit() accepts "²" (int() then raises), int() refuses 5,000 digits, and
# compare_digest raises on non-ASCII text. A header of another shape is malformed (SignatureInvalid).
_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-fA-F]{64}")
MAX_RETRY_AFTER_S = 3600.0
RETRYABLE = frozenset({408, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``Webhook-Signature`` value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> int:
    """Check an inbound signature header against the body; return its timestamp.

    Raises:
        SignatureInvalid: The header is missing or malformed, no ``v1`` matches, or the timestamp is
            further than ``tolerance_s`` from ``now`` (either way).
    """
    if not header:
        raise SignatureInvalid(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and _DIGITS.fullmatch(value):
            timestamp = int(value)
        elif name == "v1" and _HEX.fullmatch(value):
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid("the header must look like t=<unix seconds>,v1=<hex>")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureInvalid(f"timestamp {timestamp} is more than {tolerance_s:g} s from now")
    expected = sign(secret, timestamp, body)
    # Compare every candidate, in constant time each, so timing says nothing about which was close.
    if not any([hmac.compare_digest(expected, c) for c in candidates]):
        raise SignatureInvalid("no signature matches the body")
    return timestamp


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date) into seconds, at most an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    seconds = (at - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


@dataclass(frozen=True)
class WebhookTarget:
    """A configured outbound receiver. ``secret`` is never shown (``repr`` hides it)."""

    name: str
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Delivered:
    """A delivery the receiver accepted."""

    target: str
    status: int
    key: str


class WebhookSender:
    """POSTs signed JSON to configured targets only, through an injected ``httpx.Client``."""

    def __init__(
        self,
        client: httpx.Client,
        targets: Mapping[str, WebhookTarget],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.targets = dict(targets)
        self._clock = clock

    def request(self, target: WebhookTarget, payload: Any, key: str) -> httpx.Request:
        """Build the signed request (the body is canonical JSON, signed byte for byte)."""
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ts = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "coo-webhooks/1",
            IDEMPOTENCY_HEADER: key,
            ID_HEADER: key,
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: signature_header(target.secret, ts, body),
        }
        return self.client.build_request("POST", target.url, content=body, headers=headers)

    def send(self, name: str, payload: Any, key: str) -> Delivered:
        """POST ``payload`` to the target called ``name`` with idempotency key ``key``.

        Raises:
            WebhookRejected: No such target, or the receiver refused it for good: do not retry.
            WebhookUnavailable: No answer, or an answer worth another try (``retry_after_s`` if given).
        """
        target = self.targets.get(name)
        if target is None:
            raise WebhookRejected(f"there is no webhook target {name!r} (configure it in COO_WEBHOOKS)")
        try:
            response = self.client.send(self.request(target, payload, key), follow_redirects=False)
        except httpx.TimeoutException:
            raise WebhookUnavailable(f"the webhook target {name} did not answer in time") from None
        except httpx.TransportError as exc:
            raise WebhookUnavailable(
                f"could not reach the webhook target {name} ({type(exc).__name__})"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return Delivered(target=name, status=status, key=key)
        if status in RETRYABLE or status >= 500:
            wait = retry_after_s(response.headers.get("Retry-After"))
            raise WebhookUnavailable(
                f"the webhook target {name} answered {status}", status=status, retry_after_s=wait
            )
        what = "redirected elsewhere (not followed)" if 300 <= status < 400 else "refused it"
        raise WebhookRejected(f"the webhook target {name} {what} ({status})", status=status)
