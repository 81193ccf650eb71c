"""The pure parts of the Slack adapter: escaping, cleaning, splitting, Block Kit, payload parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.messages import Button, Card, Reply
from bot.slack import blocks, inbound
from bot.slack.text import clean_incoming, escape, split, unescape
from tests.bot.slack.harness import block_actions, dm_event, fixture, mention_event


def test_escape_neutralises_mentions_links_and_broadcasts():
    assert (
        escape("<!channel> <@U1> <https://x|y> a&b")
        == "&lt;!channel&gt; &lt;@U1&gt; &lt;https://x|y&gt; a&amp;b"
    )
    assert unescape(escape("a & <b> &amp;")) == "a & <b> &amp;"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<@W111> Hi there!", "Hi there!"),
        ("<@UBOT>   expense 5 tea", "expense 5 tea"),
        ("email <mailto:dana@example.com|dana@example.com> hi: body", "email dana@example.com hi: body"),
        (
            "research <https://example.com/a?b=1&amp;c=2|example.com/a>",
            "research https://example.com/a?b=1&c=2",
        ),
        ("task ask <@U2|dana> in <#C1|general>", "task ask @dana in #general"),
        ("expense 3 a &lt;b&gt; &amp; c", "expense 3 a <b> & c"),
    ],
)
def test_clean_incoming(raw, clean):
    assert clean_incoming(raw) == clean


@given(st.text(alphabet=st.sampled_from("ab &<>\n"), max_size=400), st.integers(min_value=8, max_value=60))
def test_split_keeps_every_character_and_respects_the_escaped_limit(text, limit):
    pieces = split(text, limit, lambda p: len(escape(p)))
    assert all(len(escape(p)) <= limit for p in pieces)
    # Only the separators at a cut may be dropped.
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_card_blocks_carry_the_contract_action_ids_and_values():
    card = Card(
        title="Approve? Send an email to dana@example.com <now>",
        fields=[("Action", "outreach.send_email"), ("Reversible", "NO - this cannot be undone")],
        buttons=[Button("approve", "ap_1", "Approve"), Button("reject", "ap_1", "Reject")],
        footer="expires soon · ap_1",
    )
    [msg] = blocks.messages(Reply(text=card.title, card=card))
    kinds = [b["type"] for b in msg.blocks]
    assert kinds == ["header", "section", "context", "actions"]
    assert msg.blocks[0]["text"]["type"] == "plain_text"  # header text is not mrkdwn, no escaping needed
    assert "*Reversible:* NO - this cannot be undone" in msg.blocks[1]["text"]["text"]
    els = msg.blocks[-1]["elements"]
    assert [(e["action_id"], e["value"], e.get("style")) for e in els] == [
        ("approve", "ap_1", "primary"),
        ("reject", "ap_1", "danger"),
        ("edit", "ap_1", None),  # Slack can edit arguments in a modal
    ]
    assert msg.text == "Approve? Send an email to dana@example.com &lt;now&gt;"


def test_a_huge_card_field_stays_one_message_within_limits():
    card = Card(
        title="t" * 500, fields=[("Arguments", "x&" * 20_000)], buttons=[Button("approve", "a", "Approve")]
    )
    [msg] = blocks.messages(Reply(card=card))
    assert len(msg.blocks[0]["text"]["text"]) <= blocks.HEADER_CHARS
    assert len(msg.blocks) <= 50 and msg.blocks[-1]["type"] == "actions"
    assert all(len(b["text"]["text"]) <= blocks.SECTION_CHARS for b in msg.blocks if b["type"] == "section")


def test_long_text_is_split_with_buttons_on_the_last_message_and_update_is_single():
    reply = Reply(text="para\n" * 20_000, buttons=[Button("undo", "ev_1", "Undo")])
    msgs = blocks.messages(reply)
    assert len(msgs) > 1
    assert all("actions" not in [b["type"] for b in m.blocks] for m in msgs[:-1])
    assert msgs[-1].blocks[-1]["elements"][0]["action_id"] == "undo"
    one = blocks.single(reply)
    assert len(one.blocks) <= 50 and one.blocks[-1]["type"] == "actions"


def test_events_become_requests_keyed_by_thread():
    dm = inbound.from_event(dm_event("expense 2 gum", event_id="EvA"))
    assert dm is not None and dm.delivery_id == "EvA" and dm.actor == "slack:W111"
    assert dm.conversation.startswith("slack:D111:1596183880.")
    mention = inbound.from_event(mention_event("<@W111> balance", thread_ts="1595926000.000001"))
    assert mention is not None
    assert (mention.conversation, mention.text) == ("slack:C111:1595926000.000001", "balance")
    # The unmodified fixture is a message in a channel (not a DM): not a request.
    assert inbound.from_event(fixture("slack_message_event.json")) is None
    assert inbound.from_event(dm_event("x", subtype="message_changed")) is None
    assert inbound.parse_conversation("slack:C1:1.2") == ("C1", "1.2")
    assert inbound.parse_conversation("slack:C1") == ("C1", None)
    with pytest.raises(ValueError):
        inbound.parse_conversation("telegram:42")


def test_click_ids_are_stable_per_click_and_the_thread_is_the_cards():
    message = {
        "type": "message",
        "ts": "1700000001.000001",
        "thread_ts": "1596183880.000001",
        "channel": "D111",
    }
    body = block_actions("approve", "ap_1", message=message)
    first = inbound.click_from(body, body["actions"][0])
    again = inbound.click_from(body, body["actions"][0])
    assert first == again
    assert (first.action, first.value, first.actor) == ("approve", "ap_1", "slack:W111")
    assert first.conversation == "slack:D111:1596183880.000001"
    other = block_actions("approve", "ap_1", message=message)
    assert inbound.click_from(other, other["actions"][0]).delivery_id != first.delivery_id
