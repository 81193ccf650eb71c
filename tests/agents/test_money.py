"""The amount parser: what it accepts is exactly what the card shows and the journal posts; the rest is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from agents import money
from agents.money import MAX_AMOUNT, AmountError, fmt, parse_amount, split_amount
from memory import ledger
from tests.agents.books import REGISTRY, books_engine, run


@pytest.fixture
def books_in(request: pytest.FixtureRequest) -> Iterator[None]:
    """Set the books' currency for one test and put it back after."""
    before = money.currency()
    money.set_currency(request.param)
    yield
    money.set_currency(before)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("40", 4000),
        ("$40", 4000),
        ("40.00", 4000),
        ("1,200", 120000),
        ("1.2k", 120000),
        ("5k", 500000),
        ("5K", 500000),
        ("$1,200.50", 120050),
        ("12.5", 1250),
        ("40 USD", 4000),
        ("usd 40", 4000),
        ("US$40", 4000),
        ("0.01", 1),
        ("21474836.47", 2**31 - 1),
    ],
)
def test_accepted_amounts_are_exact(text, cents):
    assert parse_amount(text) == Decimal(cents) / 100
    assert money.cents(parse_amount(text)) == cents


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1e308", "scientific notation"),
        ("1E5", "scientific notation"),
        ("-5", "negative"),
        ("$-5", "negative"),
        ("(40)", "negative"),
        ("0", "zero"),
        ("0.00", "zero"),
        ("12.345", "more than two decimals; type it in whole cents (e.g. 12.35)"),
        ("0.001", "less than a cent"),
        ("1.23456k", None),  # 1234.56: exact, so accepted (checked below)
        ("1,20", "commas in the wrong places"),
        ("1,2000", "commas in the wrong places"),
        ("€40", "The books are in USD"),
        ("40 EUR", "The books are in USD"),
        ("£3", "The books are in USD"),
        ("nan", "not an amount"),
        ("inf", "not an amount"),
        ("Infinity", "not an amount"),
        ("21474836.48", "more than the books can record in one entry ($21,474,836.47)"),
        ("9" * 30, "more than the books can record"),
        ("5m", "not an amount"),
        ("0x10", "not an amount"),
        ("１２", "not an amount"),
        ("", "not an amount"),
    ],
)
def test_refused_amounts_say_why(text, why):
    if why is None:
        assert parse_amount(text) == Decimal("1234.56")
        return
    with pytest.raises(AmountError, match=re.escape(why)):
        parse_amount(text)


def test_the_currency_message_says_what_to_do():
    with pytest.raises(AmountError) as err:
        parse_amount("€40")
    assert str(err.value) == (
        "The books are in USD, so '€40' cannot be recorded as it is: convert it to USD and type that amount"
        " (e.g. $40)."
    )


@pytest.mark.parametrize("books_in", ["EUR"], indirect=True)
def test_books_in_euros_take_euros_and_refuse_dollars(books_in):
    assert parse_amount("€40") == Decimal("40.00")
    assert parse_amount("40 EUR") == Decimal("40.00")
    assert fmt(500000) == "€5,000.00"
    with pytest.raises(AmountError, match="The books are in EUR"):
        parse_amount("$40")


def test_split_amount_takes_the_amount_and_its_currency_off_the_front():
    assert split_amount("5k laptop") == (Decimal("5000.00"), "laptop")
    assert split_amount("40 usd lunch") == (Decimal("40.00"), "lunch")
    assert split_amount("USD 40 lunch") == (Decimal("40.00"), "lunch")
    assert split_amount("40") == (Decimal("40.00"), "")
    for line, why in [
        ("1e308 x", "scientific"),
        ("€40 train", "USD"),
        ("40 EUR train", "USD"),
        ("12.345 x", "two decimals"),
    ]:
        with pytest.raises(AmountError, match=why):
            split_amount(line)


# --- properties ---------------------------------------------------------------------------------

VALUES = st.integers(min_value=1, max_value=2**31 - 1).map(lambda c: Decimal(c) / 100)


@st.composite
def typed(draw: st.DrawFn, value: Decimal) -> str:
    """Draw one way a person could type this amount in the books' currency (USD)."""
    whole, cents = divmod(int(value * 100), 100)
    shapes = [f"{whole}", f"{whole:,}"]
    body = draw(st.sampled_from(shapes))
    if cents or draw(st.booleans()):
        body += f".{cents:02d}" if cents % 10 or draw(st.booleans()) else f".{cents // 10}"
    if not cents and whole % 1000 == 0 and whole and draw(st.booleans()):
        body = f"{whole // 1000}k"
    if not cents and whole % 100 == 0 and whole >= 1000 and draw(st.booleans()):
        body = f"{Decimal(whole) / 1000}k"
    if body.startswith("0.") and draw(st.booleans()):
        body = body[1:]  # ".50"
    return draw(st.sampled_from([body, f"${body}", f"{body} USD", f"USD {body}", f"US${body}"]))


@given(data=st.data(), value=VALUES)
@example(data=None, value=Decimal("5000"))
def test_every_way_of_typing_an_amount_reads_as_that_amount(data, value):
    text = data.draw(typed(value)) if data is not None else "5k"
    assert parse_amount(text) == value
    assert split_amount(f"{text} printer ink") == (value, "printer ink")


@given(st.text(alphabet="0123456789.,kKeE$€£-+() USDEURnaif", max_size=14))
def test_any_text_is_refused_or_read_as_a_whole_number_of_cents(text):
    try:
        amount = parse_amount(text)
    except AmountError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    # Accepted: positive, whole cents, in range, in dollars, and read from the digits that were typed.
    assert Decimal("0.01") <= amount <= MAX_AMOUNT and amount == amount.quantize(Decimal("0.01"))
    assert not re.search(r"[€£\-()+eE]|EUR", text)
    digits = re.sub(r"[^0-9.k]", "", text.lower())
    k = 1000 if digits.endswith("k") else 1
    assert amount == Decimal(digits.rstrip("k") or "0") * k


@given(
    st.one_of(
        st.builds(lambda a, b: f"{a}e{b}", st.integers(1, 999), st.integers(0, 400)),
        st.builds(lambda a, b: f"{a}E+{b}", st.integers(1, 999), st.integers(0, 400)),
        st.builds(lambda v: f"-{v}", VALUES),
        st.builds(lambda v: f"{v:.2f}1", VALUES),
        st.builds(lambda a, b: f"{a},{b:02d}", st.integers(1, 999), st.integers(0, 99)),
        st.builds(lambda s, v: f"{s}{v}", st.sampled_from(["€", "£", "¥", "₹", "EUR ", "GBP "]), VALUES),
        st.builds(lambda v: f"{v} EUR", VALUES),
        st.sampled_from(["0", "0.0", "0.00", "0k", "nan", "NaN", "inf", "-inf", "Infinity", "sNaN"]),
        st.integers(min_value=2**31, max_value=10**40).map(lambda c: f"{Decimal(c) / 100}"),
    )
)
def test_what_could_be_misread_is_refused(text):
    with pytest.raises(AmountError):
        parse_amount(text)
    with pytest.raises(AmountError):
        split_amount(f"{text} train")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with books_engine(tmp_path_factory.mktemp("money"), None) as e:
        yield e


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=VALUES)
def test_the_card_shows_exactly_what_the_journal_posts(engine, data, value):
    # Given an amount typed any accepted way, planned by the grammar and proposed as a card
    from graph.planner import PlanRequest
    from graph.rules import RulePlanner

    text = data.draw(typed(value))
    [raw] = RulePlanner().plan(PlanRequest(text=f"expense {text} printer ink", actor="t")).proposals
    action = REGISTRY.propose(raw.key, raw.arguments, run_id="r", index=0)
    shown = re.search(r"\$([\d,]+\.\d\d)", action.summary)
    assert shown is not None and action.summary.endswith(" for printer ink")
    # When it is approved and posted
    outcome = run(engine, "record_expense", action.arguments)
    # Then the journal holds exactly the amount the card showed
    with Session(engine) as s:
        lines = s.exec(
            select(ledger.JournalLine).where(ledger.JournalLine.entry_id == outcome.payload["entry_id"])
        ).all()
    posted = {line.debit_cents or line.credit_cents for line in lines}
    assert posted == {int(Decimal(shown[1].replace(",", "")) * 100)} == {int(value * 100)}
    assert action.amount_cents == int(value * 100)


@pytest.mark.parametrize(
    ("key", "args", "title"),
    [
        (
            "bookkeeping.record_expense",
            {"amount": "40", "memo": "for printer ink"},
            "Record an expense of $40.00 for printer ink",
        ),
        (
            "bookkeeping.record_expense",
            {"amount": "40", "memo": "printer ink"},
            "Record an expense of $40.00 for printer ink",
        ),
        (
            "bookkeeping.record_income",
            {"amount": "5k", "memo": "from Acme"},
            "Record income of $5,000.00 from Acme",
        ),
        (
            "bookkeeping.create_invoice",
            {"customer": "Acme", "amount": "800", "memo": "for the logo"},
            "Invoice Acme $800.00 for the logo",
        ),
    ],
)
def test_card_titles_do_not_double_words(key, args, title):
    assert REGISTRY.propose(key, args, run_id="r", index=0).summary == title


def test_coo_currency_is_an_iso_code_the_parser_knows(tmp_path):
    from pydantic import ValidationError

    from tests.conftest import make_settings

    assert make_settings(tmp_path, coo_currency="eur").coo_currency == "EUR"
    with pytest.raises(ValidationError, match="COO_CURRENCY must be an ISO code such as USD or EUR"):
        make_settings(tmp_path, coo_currency="dollars")
