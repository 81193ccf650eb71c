"""The SMTP mailer against a loopback aiosmtpd server: real smtplib, real SMTP."""

from __future__ import annotations

import pytest

from connectors.email import Email, Mailer, parse_smtp_url
from connectors.errors import EmailRejected, EmailUnavailable
from tests.fakes.smtp_server import free_port, smtp_server


def test_parse_smtp_url():
    t = parse_smtp_url("smtp://me%40x.com:p%3Ass@mail.example.com:2525")
    assert (t.host, t.port, t.username, t.password, t.security) == (
        "mail.example.com",
        2525,
        "me@x.com",
        "p:ss",
        "opportunistic",
    )
    assert parse_smtp_url("smtps://mail.example.com").port == 465
    assert parse_smtp_url("smtp://mail.example.com?tls=required").security == "starttls"
    with pytest.raises(ValueError, match="SMTP_URL"):
        parse_smtp_url("http://mail.example.com")


def test_send_carries_the_key_as_message_id():
    with smtp_server() as (sink, url):
        mailer = Mailer(parse_smtp_url(url), "coo@example.com")
        mid = mailer.send(Email("dana@example.org", "Hello", "Body text", key="act_123"))
        [msg] = sink.messages
    assert mid == "<act_123@example.com>" == msg["Message-ID"]
    assert (msg["From"], msg["To"], msg["Subject"]) == ("coo@example.com", "dana@example.org", "Hello")
    assert msg.get_payload().strip() == "Body text"


def test_refused_recipient_is_permanent_and_no_server_is_temporary():
    with smtp_server() as (sink, url):
        sink.refuse.add("nobody@example.org")
        mailer = Mailer(parse_smtp_url(url), "coo@example.com")
        with pytest.raises(EmailRejected, match="refused the recipient nobody@example.org") as err:
            mailer.send(Email("nobody@example.org", "Hi", "x", key="k1"))
        assert err.value.permanent and sink.messages == []
    down = Mailer(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"), "coo@example.com", timeout_s=2)
    with pytest.raises(EmailUnavailable, match="Could not reach the mail server") as err2:
        down.send(Email("dana@example.org", "Hi", "x", key="k2"))
    assert not err2.value.permanent
